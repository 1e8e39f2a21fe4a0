import { Duplex } from 'node:stream';
import { StreamResetError } from './errors.js';
import { ErrorCode } from './frame.js';
import type { MuxStream, StreamHandler } from './stream.js';

const ignoreError = (): void => undefined;

/**
 * Credit for a Node Readable fed from a MuxStream: bytes count as taken once the Readable's reader
 * took them out of its buffer. Node calls _read() only while the buffer is below its mark, not when a
 * paused consumer later drains it (resume, pipe 'drain', async iteration); every path takes bytes
 * through read(), so owners call settle() from both (without it a reader that paused once stalls).
 */
class ReadCredit {
  private pushedTotal = 0;
  private counted = 0;

  constructor(private readonly stream: MuxStream) {}

  pushed(bytes: number): void {
    this.pushedTotal += bytes;
  }

  /** Reports what left the buffer since the last call; `buffered` is the Readable's readableLength. */
  settle(buffered: number): void {
    const taken = this.pushedTotal - buffered - this.counted;
    if (taken <= 0) return;
    this.counted += taken;
    this.stream.consumed(taken);
  }
}

export interface StreamDuplexOptions {
  /**
   * The caller stays the stream's handler (it passes the stream's bytes on with onStreamData) and
   * its owner: destroying the Duplex then resets nothing. For a request body handed to an HTTP client.
   */
  readonly detached?: boolean;
}

/**
 * A MuxStream as a Node Duplex, for byte streams that are piped (TCP streams, WebSocket relays,
 * request bodies handed to an HTTP client). Credit goes back to the peer as the Duplex's reader
 * takes bytes out of its buffer, never on receipt; a write waits until the stream's queue is below
 * its mark. Destroying the Duplex resets the stream (CANCEL, or the StreamResetError's code).
 */
export class StreamDuplex extends Duplex implements StreamHandler {
  private readonly credit: ReadCredit;
  private readonly detached: boolean;
  private pendingWrite: ((err?: Error | null) => void) | null = null;
  /** The peer's FIN came while bytes before it were still buffered: not yet given to the reader (see read()). */
  private finHeld = false;

  constructor(
    readonly stream: MuxStream,
    options: StreamDuplexOptions = {},
  ) {
    // The readable buffer may hold up to the window: the peer cannot send more than that.
    super({ allowHalfOpen: true, readableHighWaterMark: stream.receiveWindow, writableHighWaterMark: 64 * 1024 });
    // A stream error must never crash the process: owners that care attach their own listener.
    this.on('error', ignoreError);
    this.credit = new ReadCredit(stream);
    this.detached = options.detached === true;
    if (!this.detached) stream.attach(this);
  }

  // ---- StreamHandler ----

  onStreamData(chunk: Buffer, last: boolean): void {
    if (this.destroyed) return;
    if (chunk.length > 0) {
      this.credit.pushed(chunk.length);
      this.push(chunk);
    }
    if (!last) return;
    if (this.readableLength === 0) this.push(null);
    else this.finHeld = true;
  }

  onStreamDrain(): void {
    const callback = this.pendingWrite;
    this.pendingWrite = null;
    callback?.();
  }

  onStreamClose(err?: Error): void {
    // A clean close ends both directions already: the Duplex closes once its reader took the rest.
    if (err) this.destroy(err);
  }

  // ---- Duplex ----

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (this.stream.write(chunk)) callback();
    else this.pendingWrite = callback;
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.stream.end();
    callback();
  }

  override _read(): void {
    this.credit.settle(this.readableLength);
  }

  /**
   * See ReadCredit: credit is settled on every read, not only in _read(). And the peer's FIN becomes
   * 'end' only once the reader took every byte before it and asks for more (not Node's own read(0)):
   * pushed at once, 'end' would fire right after the read() that returned the last bytes, even if the
   * reader paused on them. undici 7's HTTP/1.1 parser, paused on the last chunk of a close-delimited
   * answer, then asserts `!this.paused` from its 'end' handler (nodejs/undici#5360; undici 8 needs
   * Node 22), which nothing can catch: protocol 1 crashed the edge so. Protocol 2 runs no HTTP parser
   * over a stream, but a byte stream's reader may still be paused on its last bytes.
   */
  override read(size?: number): any {
    if (this.finHeld && size !== 0 && this.readableLength === 0) {
      // A tick later, so the end is not delivered inside this read() (no re-entrant 'readable').
      this.finHeld = false;
      process.nextTick(() => this.destroyed || this.push(null));
    }
    const chunk: unknown = super.read(size);
    this.credit.settle(this.readableLength);
    return chunk;
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    // Both directions ended (autoDestroy): the FIN may still wait for the writer, so leave the stream to close cleanly.
    const ended = !err && this.readableEnded && this.writableFinished;
    if (!this.detached && !this.stream.closed && !ended) {
      if (err instanceof StreamResetError) this.stream.reset(err.code, err.reason);
      else if (err) this.stream.reset(ErrorCode.INTERNAL_ERROR, err.message);
      else this.stream.reset(ErrorCode.CANCEL, '');
    }
    this.pendingWrite = null;
    callback(err);
  }
}
