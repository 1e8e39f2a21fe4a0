import type { ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { EdgeError } from '../errors.js';
import type { TunnelConnection } from '../tunnel/connection.js';
import { UpstreamExchange, hasBody, type ExchangeInput } from './exchange.js';
import { downstreamResponseHeaders, type HeaderMap } from './headers.js';

/** Streams one HTTP request to the app and its response back, with backpressure both ways. */
export class HttpExchange extends UpstreamExchange {
  constructor(
    input: ExchangeInput,
    conn: TunnelConnection,
    private readonly res: ServerResponse,
    private readonly onError: (err: EdgeError) => void,
  ) {
    super(input, conn);
    res.once('close', () => this.clientClosed());
    if (hasBody(input.req)) {
      // Counts the body as undici takes it: paused first, so this listener does not start the flow.
      input.req.pause();
      input.req.on('data', (chunk: Buffer) => (input.trace.bytesIn += chunk.length));
    }
  }

  protected dispatchOptions(): Dispatcher.DispatchOptions {
    return { ...this.baseOptions(), body: hasBody(this.input.req) ? this.input.req : null };
  }

  protected get untouched(): boolean {
    return !this.res.headersSent;
  }

  protected get sentStatus(): number | undefined {
    return this.res.headersSent ? this.res.statusCode : undefined;
  }

  protected fail(err: EdgeError): void {
    this.onError(err);
    this.report(err.status);
  }

  protected abortClient(err: Error): void {
    this.res.destroy(err);
  }

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: HeaderMap, statusMessage?: string): void {
    if (statusCode < 200) return; // 1xx: Node answers 100-continue itself; the rest is informational
    this.res.writeHead(statusCode, statusMessage ?? '', downstreamResponseHeaders(headers));
    // Streaming responses (SSE, chunked) must reach the browser now, not with the first body chunk.
    if (headers['content-length'] === undefined) this.res.flushHeaders();
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.input.trace.bytesOut += chunk.length;
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(): void {
    this.settle();
    this.res.end();
    this.report(this.res.statusCode);
  }
}
