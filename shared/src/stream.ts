import { Duplex } from 'node:stream';
import { StreamResetError } from './errors.js';
import { ErrorCode, type StreamKind } from './frame.js';
import { ReceiveWindow } from './window.js';

const ignoreError = (): void => undefined;

/** What a stream needs from its session; kept narrow so the stream is testable alone. */
export interface StreamHost {
  readonly rttMs: number;
  /** The stream has data or a FIN it can send now. */
  markSendable(stream: MuxStream): void;
  sendWindowUpdate(stream: MuxStream, increment: number): void;
  sendReset(stream: MuxStream, code: ErrorCode, reason: string): void;
  onStreamClosed(stream: MuxStream): void;
  /** The peer broke the protocol on this stream: the whole session fails. */
  violation(code: ErrorCode, message: string): void;
}

/**
 * One multiplexed byte stream as a Node Duplex. Writes wait for credit from the peer; credit is
 * returned to the peer only when our consumer has read the bytes (see ReceiveWindow).
 */
export class MuxStream extends Duplex {
  /** Bytes the peer has allowed us to send. */
  sendCredit: number;
  /** The session's scheduler holds this stream in its ready list. */
  inReadyList = false;

  private readonly recv: ReceiveWindow;
  private pushedTotal = 0;
  private consumedCounted = 0;

  private outChunk: Buffer | null = null;
  private outOffset = 0;
  private outCallback: ((err?: Error | null) => void) | null = null;
  private finCallback: ((err?: Error | null) => void) | null = null;
  private finSent = false;
  private finReceived = false;
  /** The peer's FIN arrived while bytes before it were still buffered: not yet given to the consumer. */
  private finHeld = false;
  private resetSeen = false;
  private acceptState: 'pending' | 'accepted' | 'failed';
  private acceptWaiters: Array<(err?: Error) => void> | null = null;

  constructor(
    readonly id: number,
    readonly kind: StreamKind,
    private readonly host: StreamHost,
    peerInitialWindow: number,
    localInitialWindow: number,
    maxWindow: number,
    initiatedLocally: boolean,
  ) {
    // The readable buffer may hold up to the window: the peer cannot send more than that.
    super({ allowHalfOpen: true, readableHighWaterMark: maxWindow, writableHighWaterMark: 64 * 1024 });
    this.sendCredit = peerInitialWindow;
    this.recv = new ReceiveWindow(localInitialWindow, maxWindow, performance.now());
    this.acceptState = initiatedLocally ? 'pending' : 'accepted';
    // A stream error must never crash the process: owners that care attach their own listener.
    this.on('error', ignoreError);
  }

  /** Calls back once the peer accepted the stream (its target was reachable) or refused it. */
  whenAccepted(callback: (err?: Error) => void): void {
    if (this.acceptState === 'accepted') return callback();
    if (this.acceptState === 'failed' || this.destroyed) {
      return callback((this.errored as Error | null) ?? new StreamResetError(ErrorCode.CANCEL, 'stream closed', false));
    }
    (this.acceptWaiters ??= []).push(callback);
  }

  /** Current receive window size (grows while the consumer keeps up). */
  get receiveWindow(): number {
    return this.recv.size;
  }

  // ---- called by the session for incoming frames ----

  handleAccept(): void {
    if (this.acceptState !== 'pending') return;
    this.acceptState = 'accepted';
    this.settleAccept();
  }

  handleData(payload: Buffer): void {
    if (this.finReceived) {
      this.host.violation(ErrorCode.STREAM_CLOSED, `DATA on stream ${this.id} after its FIN`);
      return;
    }
    if (!this.recv.receive(payload.length)) {
      this.host.violation(ErrorCode.FLOW_CONTROL_ERROR, `stream ${this.id} overran its window of ${this.recv.size} bytes`);
      return;
    }
    if (this.destroyed) return;
    this.pushedTotal += payload.length;
    this.push(payload);
    this.maybeGrant();
  }

  /**
   * The peer's FIN becomes our end-of-stream only once the consumer has taken every byte before it
   * and asks for more (see read()). Pushed at once, 'end' would fire right after the read() that
   * returned the last bytes, even if the consumer paused on them: undici 7's HTTP/1.1 parser,
   * paused by backpressure on the last body chunk of a close-delimited or `Connection: close`
   * answer, then runs `Parser.finish()` and throws `assert(!this.paused)` from the 'end' handler,
   * which nothing can catch (nodejs/undici#5360, fixed only in undici 8, which needs Node 22).
   */
  handleFin(): void {
    if (this.finReceived) return;
    this.finReceived = true;
    if (this.readableLength === 0) this.push(null);
    else this.finHeld = true;
  }

  handleReset(code: ErrorCode, reason: string): void {
    this.resetSeen = true;
    this.destroy(new StreamResetError(code, reason, true));
  }

  handleWindow(increment: number): void {
    this.sendCredit += increment;
    if (this.outChunk) this.host.markSendable(this);
  }

  /** The session is gone: fail without sending anything. */
  abort(err: Error): void {
    this.resetSeen = true;
    this.destroy(err);
  }

  // ---- called by the session's scheduler ----

  /** Whether a DATA or FIN frame can be produced now. */
  get hasSendable(): boolean {
    if (this.outChunk) return this.sendCredit > 0;
    return this.finCallback !== null && !this.finSent;
  }

  /** Takes up to `max` bytes of pending data within credit; returns null when there are none. */
  takeData(max: number): Buffer | null {
    const chunk = this.outChunk;
    if (!chunk || this.sendCredit <= 0) return null;
    const n = Math.min(max, this.sendCredit, chunk.length - this.outOffset);
    const slice = chunk.subarray(this.outOffset, this.outOffset + n);
    this.outOffset += n;
    this.sendCredit -= n;
    if (this.outOffset === chunk.length) {
      const cb = this.outCallback;
      this.outChunk = null;
      this.outCallback = null;
      cb?.();
    }
    return slice;
  }

  /** Marks the FIN as sent; returns false if no FIN is due. */
  takeFin(): boolean {
    if (this.outChunk || !this.finCallback || this.finSent) return false;
    this.finSent = true;
    const cb = this.finCallback;
    this.finCallback = null;
    cb();
    return true;
  }

  // ---- Duplex implementation ----

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (err?: Error | null) => void): void {
    if (chunk.length === 0) return callback();
    this.outChunk = chunk;
    this.outOffset = 0;
    this.outCallback = callback;
    this.host.markSendable(this);
  }

  override _final(callback: (err?: Error | null) => void): void {
    this.finCallback = callback;
    this.host.markSendable(this);
  }

  override _read(): void {
    this.maybeGrant();
  }

  /**
   * Node calls _read() only while the buffer is below its mark, not when a paused consumer later
   * drains it (resume, pipe 'drain', async iteration). Every path takes bytes through read(), so
   * credit is checked here too; without it a stream whose reader paused once would stall.
   */
  override read(size?: number): any {
    if (this.finHeld && this.readableLength === 0) {
      // Asked for more after the last byte: the consumer is not paused. A tick later, so the EOF
      // is not delivered inside this read() (no re-entrant 'readable').
      this.finHeld = false;
      process.nextTick(() => this.destroyed || this.push(null));
    }
    const chunk: unknown = super.read(size);
    this.maybeGrant();
    return chunk;
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    if (!this.resetSeen && !(this.finSent && this.finReceived)) {
      const code = err instanceof StreamResetError ? err.code : err ? ErrorCode.INTERNAL_ERROR : ErrorCode.CANCEL;
      this.host.sendReset(this, code, err instanceof StreamResetError ? err.reason : (err?.message ?? ''));
    }
    this.outChunk = null;
    this.outCallback = null;
    this.finCallback = null;
    if (this.acceptState === 'pending') {
      this.acceptState = 'failed';
      this.settleAccept(err ?? new StreamResetError(ErrorCode.CANCEL, 'stream closed before it was accepted', false));
    }
    this.host.onStreamClosed(this);
    callback(err);
  }

  private settleAccept(err?: Error): void {
    const waiters = this.acceptWaiters;
    this.acceptWaiters = null;
    if (waiters) for (const w of waiters) w(err);
  }

  /** Returns credit for what the consumer has taken, when enough is owed. */
  private maybeGrant(): void {
    if (this.finReceived || this.destroyed) return;
    const buffered = this.readableLength;
    const consumed = this.pushedTotal - buffered;
    if (consumed > this.consumedCounted) {
      this.recv.consume(consumed - this.consumedCounted);
      this.consumedCounted = consumed;
    }
    if (!this.recv.due) return;
    const grant = this.recv.grant(performance.now(), buffered, this.host.rttMs);
    if (grant) this.host.sendWindowUpdate(this, grant.increment);
  }
}
