import { viewBody, type BodyView, type CapturedBody } from './body.js';
import type { CapturedExchange } from './exchange-log.js';
import { field, type HeaderMask, type HeaderView } from './mask.js';

/** A line of the page's list (what live updates carry). */
export interface ExchangeSummary {
  readonly id: number;
  /** The socket's name. */
  readonly socket: string;
  readonly kind: 'http' | 'websocket';
  /** ISO time the request came in. */
  readonly time: string;
  readonly user: string | null;
  readonly method: string;
  readonly path: string;
  readonly status: number | null;
  readonly duration_ms: number;
  readonly error: string | null;
}

export interface MessageView {
  readonly headers: HeaderView[];
  readonly body: BodyView;
}

/** One exchange in full, as the page shows it: headers masked, bodies as text, JSON or hex. */
export interface ExchangeDetail extends ExchangeSummary {
  readonly request: MessageView;
  readonly response: MessageView | null;
  /** Why it cannot be replayed; null when it can. */
  readonly replay_refused: string | null;
}

export function summarise(x: CapturedExchange): ExchangeSummary {
  return {
    id: x.id,
    socket: x.socket.name,
    kind: x.kind,
    time: new Date(x.startedAt).toISOString(),
    user: x.user,
    method: x.method,
    path: x.target,
    status: x.status,
    duration_ms: Math.round(x.durationMs * 10) / 10,
    error: x.error,
  };
}

export function message(headers: readonly string[], body: CapturedBody, mask: HeaderMask): MessageView {
  return { headers: mask.show(headers), body: viewBody(body, field(headers, 'content-type'), field(headers, 'content-encoding')) };
}

export function detail(x: CapturedExchange): ExchangeDetail {
  const { mask } = x.socket;
  return {
    ...summarise(x),
    request: message(x.requestHeaders, x.requestBody, mask),
    response: x.status === null ? null : message(x.responseHeaders, x.responseBody, mask),
    replay_refused: replayRefusal(x),
  };
}

/** Why an exchange cannot be sent again as it was; null when it can. */
export function replayRefusal(x: CapturedExchange): string | null {
  if (x.kind === 'websocket') return 'a WebSocket cannot be replayed';
  if (x.requestBody.bytes.length < x.requestBody.size) {
    return `its request body (${x.requestBody.size} bytes) is larger than the capture limit (${x.requestBody.bytes.length} bytes kept): raise --inspect-body-limit`;
  }
  return null;
}
