import type { RequestHead, ResponseHead } from '@postern/shared';
import type { ExchangeObserver, ObserveExchange } from '../target.js';
import { BodyCapture, NO_BODY } from './body.js';
import type { ExchangeLog, InspectedSocket } from './exchange-log.js';
import { field } from './mask.js';


/** Records one exchange as it passes and adds it to the log when it ends. */
class Recorder implements ExchangeObserver {
  private readonly startedAt = Date.now();
  private readonly started = performance.now();
  /** Made at the first body byte: most requests have no body. */
  private requestBytes: BodyCapture | null = null;
  private responseBytes: BodyCapture | null = null;
  private head: ResponseHead | null = null;

  constructor(
    private readonly log: ExchangeLog,
    private readonly request: RequestHead,
    private readonly kind: 'http' | 'websocket',
    private readonly socket: InspectedSocket,
    private readonly bodyLimit: number,
  ) {}

  requestBody(chunk: Buffer): void {
    (this.requestBytes ??= new BodyCapture(this.bodyLimit)).add(chunk);
  }

  responseBody(chunk: Buffer): void {
    (this.responseBytes ??= new BodyCapture(this.bodyLimit)).add(chunk);
  }

  response(head: ResponseHead): void {
    this.head = head;
  }

  end(error: Error | undefined): void {
    const { request, head } = this;
    this.log.add({
      id: this.log.id(),
      socket: this.socket,
      kind: this.kind,
      startedAt: this.startedAt,
      durationMs: performance.now() - this.started,
      user: field(request.headers, this.socket.userHeader) ?? null,
      method: request.method,
      target: request.target,
      requestHeaders: request.headers,
      requestBody: this.requestBytes?.finish() ?? NO_BODY,
      status: head?.status ?? null,
      responseHeaders: head?.headers ?? [],
      responseBody: this.responseBytes?.finish() ?? NO_BODY,
      error: error ? error.message : null,
    });
  }
}

/**
 * The connector's exchange hook for a request inspector: every HTTP exchange and WebSocket of
 * `socket` is recorded (heads, and the first `bodyLimit` bytes of each body) into `log`. Installed
 * only when the inspector is on: without it the data path has no hook at all.
 */
export function captureInto(log: ExchangeLog, socket: InspectedSocket, bodyLimit: number): ObserveExchange {
  return (request, kind) => new Recorder(log, request, kind, socket, bodyLimit);
}
