import type { IncomingMessage, ServerResponse } from 'node:http';
import { ErrorCode, type ResponseHead } from '@postern/shared';
import { EdgeError } from '../errors.js';
import { closeAfterAnswer } from '../limits/linger.js';
import type { RequestBodyGuard } from '../limits/request-body.js';
import type { StreamCarrier } from '../tunnel/carrier.js';
import type { ResponseDownstream } from './answer.js';
import { UpstreamExchange, type ExchangeInput } from './exchange.js';
import { downstreamResponseHeaders } from './headers.js';

/**
 * Answers `Expect: 100-continue` once the edge will take the body (see server.ts: Node no longer
 * answers it by itself), so a refused or oversized upload is never sent at all.
 */
export function continueIfExpected(req: IncomingMessage, res: ServerResponse): void {
  if (req.headers.expect?.toLowerCase() === '100-continue' && !res.headersSent) res.writeContinue();
}

/**
 * One HTTP request to the app and its answer, written by the edge's own server: the app's status
 * and policed headers, then its body with backpressure (credit goes back to the connector only as
 * the client's socket takes the bytes). Node frames the body for the client; with a Content-Length
 * it refuses a body of any other length (`strictContentLength`), so a short or long answer is cut,
 * never relayed as complete.
 */
export class HttpExchange extends UpstreamExchange {
  private wroteBody = false;
  private pumping = false;
  private bodyEnded = false;

  private readonly res: ServerResponse;
  private readonly edgeHeaders: readonly string[];

  /**
   * `body` is the client's body behind its limits (see limits/request-body.ts), null without one;
   * `onClosed` runs when the response closes (answered, or the client left).
   */
  constructor(
    input: ExchangeInput,
    conn: StreamCarrier,
    down: ResponseDownstream,
    private readonly body: RequestBodyGuard | null,
    onClosed: () => void,
  ) {
    super(input, conn, 'http', body !== null);
    this.res = down.res;
    this.edgeHeaders = down.edgeHeaders;
    down.whenClosed(() => {
      onClosed();
      if (!this.res.writableFinished) this.clientClosed(this.sentStatus);
    });
  }

  protected override get limitViolation(): EdgeError | undefined {
    return this.body?.violation;
  }

  protected get sentStatus(): number | undefined {
    return this.res.headersSent ? this.res.statusCode : undefined;
  }

  protected deliverHead(head: ResponseHead): void {
    const { res } = this;
    if (head.status < 200 || head.status > 599) return this.giveUp(this.appError(`answered with status ${head.status}`));
    const fields = downstreamResponseHeaders(head.headers);
    let sized = false;
    for (let i = 0; i < fields.length; i += 2) if (fields[i] === 'content-length') sized = true;
    for (const field of this.edgeHeaders) fields.push(field);
    // An answer that starts before the request body ended may end before it too: then the rest of the
    // body must not be taken for a next request, so this one is the connection's last (the head says so).
    if (this.body && !this.input.downstream.req.complete) res.shouldKeepAlive = false;
    try {
      res.strictContentLength = true;
      res.writeHead(head.status, fields);
    } catch (err) {
      res.statusMessage = ''; // writeHead set the app's phrase before it threw: the error page gets its own
      return this.giveUp(this.appError(`sent a response header the edge cannot relay (${(err as Error).message})`, err));
    }
    // A streaming answer (SSE, chunked) must reach the browser now, not with its first body chunk.
    if (!sized) queueMicrotask(this.flushHead);
  }

  protected deliverBody(chunk: Buffer, last: boolean): void {
    if (last) return this.finish(chunk);
    if (chunk.length === 0) return;
    this.wroteBody = true;
    try {
      this.writeToClient(this.res, chunk);
    } catch (err) {
      this.giveUp(this.appError('sent more body than its Content-Length', err));
    }
  }

  protected override bodyDrained(): void {
    this.progressed();
    this.body?.resume();
  }

  protected override sendBody(): void {
    const { body } = this;
    if (!body) return;
    if (this.bodyEnded) return this.stream?.end(); // an empty body, already over before this attempt
    if (this.pumping) return;
    this.pumping = true;
    body.on('data', this.onBodyData);
    body.once('end', this.onBodyEnd);
    body.once('error', this.onBodyError);
  }

  protected override stopBody(): void {
    if (!this.body || this.input.downstream.req.complete) return;
    // Unpiped from the request, so that lingering (limits/linger.ts) can read and drop the rest.
    this.body.off('data', this.onBodyData);
    this.body.destroy();
  }

  // ---- internals ----

  private appError(what: string, cause?: unknown): EdgeError {
    return new EdgeError('APP_ERROR', `The app behind ${this.input.targetName} ${what}.`, { cause });
  }

  /** The app's answer is complete. */
  private finish(chunk: Buffer): void {
    const { res } = this;
    const { req } = this.input.downstream;
    // The app answered before the end of the request body: it wants no more; the rest is read and
    // dropped until the client is done, then the connection closes (limits/linger.ts).
    const early = this.body !== null && !req.complete;
    if (early) {
      this.stopBody();
      closeAfterAnswer(req, res);
    }
    this.input.downstream.trace.bytesOut += chunk.length;
    try {
      if (chunk.length > 0) res.end(chunk);
      else res.end();
    } catch (err) {
      return this.giveUp(this.appError('sent less body than its Content-Length', err));
    }
    this.report(res.statusCode);
    if (early) this.release(ErrorCode.CANCEL, 'the app answered before the end of the request body');
  }

  private readonly flushHead = (): void => {
    if (!this.wroteBody && !this.res.writableEnded && !this.res.destroyed) this.res.flushHeaders();
  };

  // The body's listeners run inside Node's stream machinery: what they throw ends this exchange only.

  private readonly onBodyData = (chunk: Buffer): void => {
    const { stream } = this;
    if (!stream) return;
    this.input.downstream.trace.bytesIn += chunk.length;
    this.bodySent += chunk.length;
    try {
      if (stream.write(chunk)) this.progressed();
      else this.body!.pause();
    } catch (err) {
      this.faulted('request', err);
    }
  };

  private readonly onBodyEnd = (): void => {
    this.bodyEnded = true;
    this.progressed();
    try {
      this.stream?.end();
    } catch (err) {
      this.faulted('request', err);
    }
  };

  /** The body broke a limit (413, 408), or the client left in the middle of it. */
  private readonly onBodyError = (): void => {
    if (this.stream === null) return;
    try {
      const violation = this.body?.violation;
      if (violation) return this.giveUp(violation);
      this.release(ErrorCode.CANCEL, 'the client closed the connection before the end of the request body');
    } catch (err) {
      this.faulted('request', err);
    }
  };
}
