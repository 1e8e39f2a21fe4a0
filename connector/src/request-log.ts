import type { RequestEvent } from '@postern/shared';

/** One finished request, or the close of a WebSocket, as the edge reported it (docs/PROTOCOL.md, "Request events"). */
export interface RequestLogEntry {
  readonly kind: RequestEvent['t'];
  /** The tunnel connection that carried it (0-based, as in 'connection' events). */
  readonly slot: number;
  /** When it ended. */
  readonly time: Date;
  /** The signed-in user; null on a public socket. */
  readonly email: string | null;
  readonly method: string;
  /** The path without its query string. */
  readonly path: string;
  readonly status: number;
  readonly durationMs: number;
  /** Response body bytes the app sent. */
  readonly bytesOut: number;
}

const KINDS: ReadonlySet<unknown> = new Set<RequestEvent['t']>(['request', 'websocket_close']);

const isKind = (value: unknown): value is RequestEvent['t'] => KINDS.has(value);
const isCount = (value: unknown): value is number => typeof value === 'number' && Number.isFinite(value) && value >= 0;
const isStatus = (value: unknown): value is number => typeof value === 'number' && Number.isInteger(value) && value >= 100 && value <= 999;

/**
 * The entry an EVENT describes; undefined for a kind this connector does not know (a newer edge may
 * add some) or a field of the wrong type. Fields it does not know are ignored.
 */
export function requestLogEntry(event: Readonly<Record<string, unknown>>, slot: number): RequestLogEntry | undefined {
  const { t, ts, method, path, status, duration_ms, email, bytes_out } = event;
  if (!isKind(t) || !isCount(ts) || typeof method !== 'string' || typeof path !== 'string') return undefined;
  if (!isStatus(status) || !isCount(duration_ms) || !isCount(bytes_out)) return undefined;
  if (email !== null && typeof email !== 'string') return undefined;
  return {
    kind: t,
    slot,
    time: new Date(ts),
    email,
    method,
    path,
    status,
    durationMs: duration_ms,
    bytesOut: bytes_out,
  };
}
