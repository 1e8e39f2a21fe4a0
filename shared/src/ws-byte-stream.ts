import { Duplex } from 'node:stream';
import WebSocket from 'ws';

/**
 * A TCP byte stream carried over one WebSocket (`postern tcp` ↔ edge, see docs/PROTOCOL.md, "TCP
 * streams"). Binary messages carry bytes; the text message `end` is a half-close (no more bytes
 * this way, like a TCP FIN). A WebSocket has no half-close of its own, and SSH, database clients
 * and `printf … | nc` rely on it.
 */
export const TCP_END_MESSAGE = 'end';
/** Largest message either side sends or accepts: writes are split to this size. */
export const TCP_MAX_MESSAGE = 64 * 1024;

/** Close codes of a TCP stream's WebSocket. */
export const TcpCloseCode = {
  /** Both directions ended with `end`. */
  NORMAL: 1000,
  /** The sender's own side failed (its local connection was reset) or it is shutting down. */
  ABORTED: 4400,
  /** The edge withdrew access: token revoked or expired, socket rules changed, socket deleted. */
  ACCESS_ENDED: 4403,
  /** The app's connection, or the tunnel to the connector, failed. */
  UPSTREAM_FAILED: 4502,
} as const;

/** A TCP stream that ended abnormally: the close code and reason sent, or received from the peer. */
export class TcpStreamError extends Error {
  override readonly name = 'TcpStreamError';
  constructor(
    readonly code: number,
    readonly reason: string,
  ) {
    super(reason || `the stream was closed (code ${code})`);
  }
}

/** WebSocket close reasons are limited to 123 bytes of UTF-8. */
const MAX_REASON_BYTES = 123;
const ignoreError = (): void => undefined;

export interface WebSocketByteStreamOptions {
  /** What the peer is told when this stream is destroyed without an error before both directions ended. */
  readonly abortClose: { readonly code: number; readonly reason: string };
}

/**
 * An open WebSocket as a Node Duplex of raw bytes, with backpressure both ways: a full readable
 * buffer pauses the WebSocket, and each write waits until its message reached the socket.
 * Ends cleanly (close 1000) once `end` went both ways; any other close is an error with its reason.
 */
export class WebSocketByteStream extends Duplex {
  /** Bytes received from the peer. */
  bytesRead = 0;
  /** Bytes sent to the peer. */
  bytesWritten = 0;
  /** The close code and reason sent, or received from the peer if it closed first. */
  closedWith: { readonly code: number; readonly reason: string } | undefined;
  private endSent = false;
  private endReceived = false;
  private socketError: Error | undefined;

  constructor(
    private readonly ws: WebSocket,
    private readonly options: WebSocketByteStreamOptions,
  ) {
    super({ allowHalfOpen: true, readableHighWaterMark: 4 * TCP_MAX_MESSAGE, writableHighWaterMark: TCP_MAX_MESSAGE });
    // A stream error must never crash the process: owners that care attach their own listener.
    this.on('error', ignoreError);
    ws.on('message', (data, isBinary) => this.receive(data as Buffer, isBinary));
    ws.on('close', (code, reason) => this.peerClosed(code, reason.toString('utf8')));
    // ws always follows an error with 'close' (its code says what it sent); the message explains it.
    ws.on('error', (err) => (this.socketError = err));
  }

  /** Both directions ended with `end`: nothing was cut off. */
  get completed(): boolean {
    return this.endSent && this.endReceived;
  }

  private receive(data: Buffer, isBinary: boolean): void {
    if (this.destroyed) return;
    if (this.endReceived) {
      this.destroy(new TcpStreamError(1002, 'message after end'));
      return;
    }
    if (!isBinary) {
      if (data.toString('utf8') !== TCP_END_MESSAGE) {
        this.destroy(new TcpStreamError(1003, 'unexpected text message'));
        return;
      }
      this.endReceived = true;
      this.push(null);
      this.closeIfCompleted();
      return;
    }
    this.bytesRead += data.length;
    if (!this.push(data)) this.ws.pause();
  }

  private peerClosed(code: number, reason: string): void {
    this.closedWith ??= { code, reason: reason || (this.socketError?.message ?? '') };
    // After `end` both ways the bytes already received are still delivered to our consumer.
    if (!this.completed) this.destroy(new TcpStreamError(this.closedWith.code, this.closedWith.reason));
  }

  private closeIfCompleted(): void {
    if (this.completed && this.ws.readyState === WebSocket.OPEN) this.close(TcpCloseCode.NORMAL, '');
  }

  private close(code: number, reason: string): void {
    this.closedWith = { code, reason: truncateUtf8(reason, MAX_REASON_BYTES) };
    this.ws.close(code, this.closedWith.reason);
  }

  override _read(): void {
    this.ws.resume();
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (chunk.length === 0) return callback();
    this.bytesWritten += chunk.length;
    for (let offset = 0; offset < chunk.length; offset += TCP_MAX_MESSAGE) {
      const last = offset + TCP_MAX_MESSAGE >= chunk.length;
      this.ws.send(chunk.subarray(offset, offset + TCP_MAX_MESSAGE), { binary: true }, last ? callback : undefined);
    }
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.ws.send(TCP_END_MESSAGE, { binary: false }, callback);
    this.endSent = true;
    this.closeIfCompleted();
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    if (this.ws.readyState === WebSocket.OPEN) {
      const { code, reason } = this.completed
        ? { code: TcpCloseCode.NORMAL, reason: '' }
        : err instanceof TcpStreamError
          ? err
          : err
            ? { code: TcpCloseCode.ABORTED, reason: err.message }
            : this.options.abortClose;
      this.close(code, reason);
    }
    // The close handshake needs the peer's answer, which a paused socket would never read.
    this.ws.resume();
    callback(err);
  }
}

function truncateUtf8(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  // Cutting may split a character; dropping the replacement character keeps the reason valid UTF-8.
  return bytes.subarray(0, maxBytes).toString('utf8').replace(/\uFFFD+$/, '');
}
