import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { EdgeError } from '../errors.js';
import { closeAfterAnswer } from '../limits/linger.js';
import type { RequestBodyGuard } from '../limits/request-body.js';
import type { TunnelConnection } from '../tunnel/connection.js';
import { UpstreamExchange, type ExchangeInput } from './exchange.js';
import { downstreamResponseHeaders, relayedReason, type HeaderMap } from './headers.js';

/** Answers that never have a body, whatever length they declare (RFC 9110, sections 6.4.1 and 8.6). */
const BODILESS = new Set([204, 304]);

/**
 * Answers `Expect: 100-continue` once the edge will take the body (see server.ts: Node no longer
 * answers it by itself), so a refused or oversized upload is never sent at all.
 */
export function continueIfExpected(req: IncomingMessage, res: ServerResponse): void {
  if (req.headers.expect?.toLowerCase() === '100-continue' && !res.headersSent) res.writeContinue();
}

/** Streams one HTTP request to the app and its response back, with backpressure both ways. */
export class HttpExchange extends UpstreamExchange {
  /**
   * `body` is the client's body behind its limits (see limits/request-body.ts), null without one.
   */
  constructor(
    input: ExchangeInput,
    conn: TunnelConnection,
    private readonly res: ServerResponse,
    private readonly body: RequestBodyGuard | null,
    private readonly onError: (err: EdgeError) => void,
  ) {
    super(input, conn);
    res.once('close', () => this.contained('response_body', () => this.clientClosed()));
    // The guard already pipes the body, so one more listener counts it without changing its flow.
    if (body) input.req.on('data', (chunk: Buffer) => (input.trace.bytesIn += chunk.length));
  }

  protected dispatchOptions(): Dispatcher.DispatchOptions {
    return { ...this.baseOptions(), body: this.body };
  }

  protected override get limitViolation(): EdgeError | undefined {
    return this.body?.violation;
  }

  protected get untouched(): boolean {
    return !this.res.headersSent;
  }

  protected get sentStatus(): number | undefined {
    return this.res.headersSent ? this.res.statusCode : undefined;
  }

  protected override get answered(): boolean {
    return this.res.writableEnded;
  }

  protected fail(err: EdgeError): void {
    // The rest of an unread body must not be taken for the next request: close after this answer.
    if (!this.input.req.complete) {
      this.body?.destroy();
      closeAfterAnswer(this.input.req, this.res);
    }
    this.onError(err);
    this.report(err.status);
  }

  protected abortClient(err: Error): void {
    this.res.destroy(err);
  }

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: HeaderMap, statusMessage?: string): void {
    if (statusCode < 200) return; // 1xx: Node answers 100-continue itself; the rest is informational
    this.res.writeHead(statusCode, relayedReason(statusCode, statusMessage), downstreamResponseHeaders(headers));
    // Complete now: undici 7 then fails a 304 that declares its representation's Content-Length
    // (which RFC 9110 allows) as a length mismatch, and the client must not lose the answer to that.
    if (BODILESS.has(statusCode) || this.input.req.method === 'HEAD') return this.onResponseEnd();
    // Streaming responses (SSE, chunked) must reach the browser now, not with the first body chunk.
    if (headers['content-length'] === undefined) this.res.flushHeaders();
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.input.trace.bytesOut += chunk.length;
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', () => this.contained('response_body', () => controller.resume()));
    }
  }

  onResponseEnd(): void {
    this.settle();
    this.res.end();
    this.report(this.res.statusCode);
  }
}
