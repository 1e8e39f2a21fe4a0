import { STATUS_CODES, validateHeaderName, validateHeaderValue } from 'node:http';
import { StreamDuplex, type MuxStream, type ResponseHead } from '@postern/shared';
import { EdgeError } from '../errors.js';
import type { StreamCarrier } from '../tunnel/carrier.js';
import type { SocketDownstream } from './answer.js';
import { UpstreamExchange, type ExchangeInput } from './exchange.js';
import { downstreamResponseHeaders, serializeResponseHead } from './headers.js';

/**
 * An Upgrade request (WebSocket). On 101 the client socket and the app's stream are piped both ways
 * with backpressure; any other answer is relayed and the connection closed. After the 101 the bytes
 * are relayed as they are, frames unparsed: message sizes are the app's to limit, and the tunnel's
 * flow control bounds what the edge holds for one WebSocket whatever its messages.
 */
export class UpgradeExchange extends UpstreamExchange {
  private upgraded = false;

  constructor(
    input: ExchangeInput,
    conn: StreamCarrier,
    private readonly downstream: SocketDownstream,
    /** Bytes the client sent after its upgrade request: the first bytes of the WebSocket. */
    private readonly head: Buffer,
    /** The edge's own response headers (request id). */
    private readonly edgeHeaders: readonly string[],
  ) {
    super(input, conn, 'websocket', false);
    const { socket } = downstream;
    socket.once('close', () => {
      if (!this.upgraded) this.clientClosed(this.sentStatus);
    });
    socket.on('error', () => socket.destroy());
  }

  protected get sentStatus(): number | undefined {
    return this.downstream.untouched ? undefined : (this.downstream.trace.status ?? undefined);
  }

  protected deliverHead(head: ResponseHead): void {
    // This head is written to the socket by hand, not by node:http: its fields are checked here.
    try {
      for (let i = 0; i < head.headers.length; i += 2) {
        validateHeaderName(head.headers[i]!);
        validateHeaderValue(head.headers[i]!, head.headers[i + 1]!);
      }
    } catch (err) {
      return this.giveUp(new EdgeError('APP_ERROR', `The app behind ${this.input.targetName} answered the upgrade with a header the edge cannot relay.`, { cause: err }));
    }
    if (head.status === 101) {
      const stream = this.stream!;
      try {
        return this.switchProtocols(stream, head);
      } catch (err) {
        stream.reset();
        return this.faulted('upgrade', err);
      }
    }
    if (head.status < 200 || head.status > 599) {
      return this.giveUp(new EdgeError('APP_ERROR', `The app behind ${this.input.targetName} answered the upgrade with status ${head.status}.`));
    }
    this.downstream.answered(head.status);
    const fields = [...downstreamResponseHeaders(head.headers), ...this.edgeHeaders, 'connection', 'close'];
    this.downstream.socket.write(serializeResponseHead(head.status, STATUS_CODES[head.status] ?? '', fields));
  }

  protected deliverBody(chunk: Buffer, last: boolean): void {
    const { socket } = this.downstream;
    if (chunk.length > 0) this.writeToClient(socket, chunk);
    if (!last) return;
    socket.end();
    this.report(this.downstream.trace.status ?? 502);
  }

  private switchProtocols(stream: MuxStream, head: ResponseHead): void {
    const { socket, trace } = this.downstream;
    this.stream = null; // the byte relay below owns it from now on
    this.upgraded = true;
    this.settle();
    if (socket.destroyed) return stream.reset();
    this.downstream.answered(101);
    const fields = [...downstreamResponseHeaders(head.headers, true), ...this.edgeHeaders];
    socket.write(serializeResponseHead(101, 'Switching Protocols', fields));
    this.report(101);
    // The WebSocket keeps its stream after the request settled: it still counts against the connection.
    const release = this.conn.holdStream();
    const bytes = new StreamDuplex(stream);
    const openedAt = performance.now();
    if (this.head.length > 0) bytes.write(this.head);
    trace.bytesIn += this.head.length;
    // Extra listeners on streams already flowing through pipe(): they count, they do not steer.
    bytes.on('data', (chunk: Buffer) => (trace.bytesOut += chunk.length));
    socket.on('data', (chunk: Buffer) => (trace.bytesIn += chunk.length));
    bytes.once('close', () => socket.destroy());
    socket.once('close', () => {
      bytes.destroy();
      release();
      this.sendEvent('websocket_close', 101, openedAt);
    });
    bytes.pipe(socket);
    socket.pipe(bytes);
  }
}
