import type { RequestLogEntry } from '@postern/connector';
import { out } from './output.js';

/** Column widths of the human request log; the time, method and status columns are fixed. */
export interface RequestLineLayout {
  /** The user column: 1 on a public socket (always "-"), wider where people sign in. */
  readonly userWidth: number;
  /** The path column: longer paths are cut with "…". */
  readonly pathWidth: number;
  /** The socket's name, already fitted to its column (`connect --config`). */
  readonly label?: string;
}

/** Wide enough for every standard method but the WebDAV ones. */
const METHOD_WIDTH = 7;

/**
 * Control characters (C0, DEL, C1) replaced: paths and emails come from strangers, and a terminal
 * must not take them for escape sequences.
 */
export function printable(text: string): string {
  return text.replace(/[\u0000-\u001f\u007f-\u009f]/g, '?');
}

/** `text` padded to `width`, or cut to it with "…". */
export function fit(text: string, width: number): string {
  return text.length > width ? `${text.slice(0, width - 1)}…` : text.padEnd(width);
}

/** Local wall-clock time, HH:MM:SS. */
export function clock(time: Date): string {
  return [time.getHours(), time.getMinutes(), time.getSeconds()].map((n) => String(n).padStart(2, '0')).join(':');
}

export function formatDuration(ms: number): string {
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)} s`;
  const seconds = Math.round(ms / 1000);
  return `${Math.floor(seconds / 60)} min ${seconds % 60} s`;
}

function paintStatus(status: number): string {
  const text = String(status);
  if (status < 400) return out.good(text);
  return status < 500 ? out.caution(text) : out.bad(text);
}

/** One aligned line: `12:03:04  alice@corp.com  GET      /api/dashboards  200  12 ms`. */
export function requestLine(entry: RequestLogEntry, layout: RequestLineLayout): string {
  const user = fit(printable(entry.email ?? '-'), layout.userWidth);
  const method = printable(entry.method).padEnd(METHOD_WIDTH);
  const path = fit(printable(entry.path), layout.pathWidth);
  const closed = entry.kind === 'websocket_close' ? `  ${out.dim('websocket closed')}` : '';
  return `${clock(entry.time)}  ${layout.label !== undefined ? `${layout.label}  ` : ''}${user}  ${method}  ${path}  ${paintStatus(entry.status)}  ${formatDuration(entry.durationMs)}${closed}`;
}
