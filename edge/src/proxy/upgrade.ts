import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { EdgeError } from '../errors.js';
import { requestIdOf, REQUEST_ID_HEADER } from '../observability/request-id.js';
import { sendErrorOnSocket } from '../pages/error-page.js';
import type { TunnelConnection } from '../tunnel/connection.js';
import { UpstreamExchange, type ExchangeInput } from './exchange.js';
import { downstreamResponseHeaders, relayedReason, serializeResponseHead, type HeaderMap } from './headers.js';

/**
 * An Upgrade request (WebSocket). On 101 the client socket and the app's stream are piped
 * both ways with backpressure; any other answer is relayed and the connection closed. The bytes are
 * relayed as they are, frames unparsed: message sizes are the app's to limit, and the tunnel's flow
 * control bounds what the edge holds for one WebSocket whatever its messages.
 */
export class UpgradeExchange extends UpstreamExchange {
  private status: number | undefined;

  constructor(
    input: ExchangeInput,
    conn: TunnelConnection,
    private readonly client: Duplex,
    private readonly head: Buffer,
  ) {
    super(input, conn);
    client.once('close', () => this.contained('upgrade', () => this.clientClosed()));
    client.on('error', () => client.destroy());
  }

  protected dispatchOptions(): Dispatcher.DispatchOptions {
    return { ...this.baseOptions(), upgrade: String(this.input.req.headers.upgrade) };
  }

  protected get untouched(): boolean {
    return this.status === undefined;
  }

  protected get sentStatus(): number | undefined {
    return this.status;
  }

  protected fail(err: EdgeError): void {
    this.input.trace.refused(err);
    sendErrorOnSocket(this.input.req, this.client, err);
    this.report(err.status);
  }

  protected abortClient(): void {
    this.client.destroy();
  }

  onRequestUpgrade(_c: Dispatcher.DispatchController, statusCode: number, headers: HeaderMap, upstream: Duplex): void {
    this.settle();
    this.status = statusCode;
    const { client, input } = this;
    input.trace.status = statusCode;
    if (client.destroyed) {
      upstream.destroy();
      return;
    }
    client.write(serializeResponseHead(statusCode, 'Switching Protocols', { ...downstreamResponseHeaders(headers, true), [REQUEST_ID_HEADER]: requestIdOf(input.req) }));
    this.report(statusCode);
    // The WebSocket keeps its stream after the request settled: it still counts against the connection.
    client.once('close', this.conn.holdStream());
    const openedAt = performance.now();
    if (this.head.length > 0) upstream.write(this.head);
    input.trace.bytesIn += this.head.length;
    // Extra listeners on streams already flowing through pipe(): they count, they do not steer.
    upstream.on('data', (chunk: Buffer) => (input.trace.bytesOut += chunk.length));
    client.on('data', (chunk: Buffer) => (input.trace.bytesIn += chunk.length));
    upstream.on('error', () => client.destroy());
    upstream.once('close', () => client.destroy());
    client.once('close', () => {
      upstream.destroy();
      this.sendEvent('websocket_close', statusCode, openedAt);
    });
    upstream.pipe(client);
    client.pipe(upstream);
  }

  onResponseStart(_c: Dispatcher.DispatchController, statusCode: number, headers: HeaderMap, statusMessage?: string): void {
    if (statusCode < 200) return;
    this.status = statusCode;
    this.input.trace.status = statusCode;
    const relayed = { ...downstreamResponseHeaders(headers), [REQUEST_ID_HEADER]: requestIdOf(this.input.req), connection: 'close' };
    this.client.write(serializeResponseHead(statusCode, relayedReason(statusCode, statusMessage), relayed));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.input.trace.bytesOut += chunk.length;
    if (!this.client.write(chunk)) {
      controller.pause();
      this.client.once('drain', () => this.contained('response_body', () => controller.resume()));
    }
  }

  onResponseEnd(): void {
    this.settle();
    this.client.end();
    if (this.status !== undefined) this.report(this.status);
  }
}
