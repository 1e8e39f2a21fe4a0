import { StreamResetError } from './errors.js';
import { ErrorCode, Flag, FrameType, type ResponseHead, type StreamKind } from './frame.js';
import { responseText } from './head.js';
import { ReceiveWindow } from './window.js';

/** What a stream needs from its session; kept narrow so the stream is testable alone. */
export interface StreamHost {
  readonly rttMs: number;
  /** The stream has a frame it can send now. */
  markSendable(stream: MuxStream): void;
  sendWindowUpdate(stream: MuxStream, increment: number): void;
  sendReset(stream: MuxStream, code: ErrorCode, reason: string): void;
  onStreamClosed(stream: MuxStream): void;
  /** The peer broke the protocol on this stream: the whole session fails. */
  violation(code: ErrorCode, message: string): void;
}

/**
 * Whoever consumes a stream. Calls arrive in order and synchronously as frames are read. A handler
 * that throws ends its own stream (RESET INTERNAL_ERROR, then onStreamClose with that error), never
 * the session and the other streams on it.
 */
export interface StreamHandler {
  /** The answer's head arrived (the opener of an http or websocket stream). */
  onStreamHead?(head: ResponseHead): void;
  /** The peer accepted the stream (tcp: its target was reachable). */
  onStreamAccept?(): void;
  /**
   * Bytes from the peer, in order; `last` once the peer's FIN came (the chunk may then be empty).
   * The window is returned to the peer only as the handler reports bytes taken (`consumed()`).
   */
  onStreamData(chunk: Buffer, last: boolean): void;
  /** write() returned false earlier, and the queue is below its mark again. */
  onStreamDrain?(): void;
  /** The stream is over, once: cleanly when both directions ended (no error), or with the reset or failure that ended it. */
  onStreamClose(err?: Error): void;
}

/** One frame taken by the session's writer; a head travels as latin1 text, copied straight into the message. */
export interface OutFrame {
  readonly type: FrameType;
  readonly flags: number;
  readonly payload: Buffer | string | null;
}

/** Bytes a stream queues for the writer before write() asks its source to wait. */
export const STREAM_WRITE_HIGH_WATER = 64 * 1024;
const EMPTY = Buffer.alloc(0);

/**
 * One multiplexed stream: a head (OPEN or RESPONSE), bytes each way with credit windows, and a FIN
 * each way or a RESET. Not a Node stream: the handler gets each chunk as it is read, which is what
 * the edge's HTTP answers and the connector's HTTP client want (StreamDuplex adapts it for pipe()).
 * Writes wait for credit from the peer; credit is returned only for bytes the handler reported taken.
 */
export class MuxStream {
  /** Bytes the peer has allowed us to send. */
  sendCredit: number;
  /** The session's writer holds this stream in its ready list. */
  inReadyList = false;

  private handler: StreamHandler | null;
  private readonly recv: ReceiveWindow;
  /** Bytes handed to the handler and not yet reported taken. */
  private unconsumed = 0;
  private head: { readonly type: FrameType; readonly payload: string } | null = null;
  private headSent: boolean;
  private readonly out: Buffer[] = [];
  private outBytes = 0;
  private needDrain = false;
  private finQueued = false;
  private finSent = false;
  private finReceived = false;
  private responded = false;
  private accepted: boolean;
  private isClosed = false;
  /** We opened it (our id parity). */
  readonly local: boolean;

  constructor(
    readonly id: number,
    readonly kind: StreamKind,
    private readonly host: StreamHost,
    windows: { readonly peerInitial: number; readonly localInitial: number; readonly max: number },
    /** For a stream we open: its OPEN payload (latin1 text, sent by the writer before any DATA), its handler, and whether it ends our direction. */
    open: string | null,
    handler: StreamHandler | null,
    fin: boolean,
  ) {
    this.sendCredit = windows.peerInitial;
    this.recv = new ReceiveWindow(windows.localInitial, windows.max, performance.now());
    this.local = open !== null;
    this.handler = handler;
    this.headSent = !this.local;
    this.accepted = !this.local;
    if (open !== null) {
      this.head = { type: FrameType.OPEN, payload: open };
      this.finQueued = fin;
    }
  }

  /** Sets (or replaces) the handler; the acceptor of a stream must call this from its 'stream' listener. */
  attach(handler: StreamHandler): void {
    this.handler = handler;
  }

  get attached(): boolean {
    return this.handler !== null;
  }

  get closed(): boolean {
    return this.isClosed;
  }

  /** Current receive window size (grows while the consumer keeps up). */
  get receiveWindow(): number {
    return this.recv.size;
  }

  /** Bytes queued for sending (not yet taken by the writer). */
  get writableLength(): number {
    return this.outBytes;
  }

  // ---- called by the owner ----

  /** Queues bytes; false once STREAM_WRITE_HIGH_WATER bytes wait (then onStreamDrain follows). */
  write(chunk: Buffer): boolean {
    if (this.isClosed || this.finQueued) return false;
    if (chunk.length > 0) {
      this.out.push(chunk);
      this.outBytes += chunk.length;
      if (this.sendCredit > 0 || this.head) this.host.markSendable(this);
    }
    if (this.outBytes < STREAM_WRITE_HIGH_WATER) return true;
    this.needDrain = true;
    return false;
  }

  /** No more bytes this way: a FIN follows what is queued (as a flag on its last frame when it can). */
  end(): void {
    if (this.isClosed || this.finQueued) return;
    this.finQueued = true;
    this.host.markSendable(this);
  }

  /** The acceptor of an http or websocket stream answers with the app's head; `fin` when no body follows. Throws HeadError. */
  respond(head: ResponseHead, fin = false): void {
    if (this.isClosed || this.responded || this.local) return;
    this.head = { type: FrameType.RESPONSE, payload: responseText(head) };
    this.responded = true;
    if (fin) this.finQueued = true;
    this.host.markSendable(this);
  }

  /** Reports `bytes` of received data taken by the consumer: credit flows back once enough is owed. */
  consumed(bytes: number): void {
    if (bytes <= 0) return;
    this.unconsumed -= bytes;
    this.recv.consume(bytes);
    if (this.finReceived || this.isClosed || !this.recv.due) return;
    const grant = this.recv.grant(performance.now(), this.unconsumed, this.host.rttMs);
    if (grant) this.host.sendWindowUpdate(this, grant.increment);
  }

  /** Ends the stream at once; the peer gets RESET(code, reason) if it knows the stream. The handler's onStreamClose gets the error. */
  reset(code: ErrorCode = ErrorCode.CANCEL, reason = ''): void {
    this.closeWith(new StreamResetError(code, reason, false), this.headSent);
  }

  // ---- called by the session for incoming frames ----

  handleAccept(): void {
    if (this.kind !== 'tcp') {
      this.host.violation(ErrorCode.PROTOCOL_ERROR, `ACCEPT on ${this.kind} stream ${this.id}: it is answered with RESPONSE`);
      return;
    }
    if (this.accepted || this.isClosed) return;
    this.accepted = true;
    try {
      this.handler?.onStreamAccept?.();
    } catch (err) {
      this.handlerFailed(err);
    }
  }

  handleResponse(head: ResponseHead, fin: boolean): void {
    if (this.accepted || this.kind === 'tcp') {
      this.host.violation(ErrorCode.PROTOCOL_ERROR, `RESPONSE on stream ${this.id}, which is not waiting for one`);
      return;
    }
    this.accepted = true;
    if (this.isClosed) return;
    try {
      this.handler?.onStreamHead?.(head);
    } catch (err) {
      return this.handlerFailed(err);
    }
    if (fin) this.handleData(EMPTY, true);
  }

  handleData(payload: Buffer, fin: boolean): void {
    if (!this.accepted) {
      this.host.violation(ErrorCode.PROTOCOL_ERROR, `DATA or FIN on stream ${this.id} before its ${this.kind === 'tcp' ? 'ACCEPT' : 'RESPONSE'}`);
      return;
    }
    if (this.finReceived) {
      this.host.violation(ErrorCode.STREAM_CLOSED, `DATA on stream ${this.id} after its FIN`);
      return;
    }
    if (!this.recv.receive(payload.length)) {
      this.host.violation(ErrorCode.FLOW_CONTROL_ERROR, `stream ${this.id} overran its window of ${this.recv.size} bytes`);
      return;
    }
    if (this.isClosed) return; // reset here, the peer has not heard yet
    if (fin) this.finReceived = true;
    this.unconsumed += payload.length;
    try {
      this.handler?.onStreamData(payload, fin);
    } catch (err) {
      return this.handlerFailed(err);
    }
    if (fin && this.finSent) this.closeClean();
  }

  handleFin(): void {
    if (this.finReceived) return;
    this.handleData(EMPTY, true);
  }

  handleReset(code: ErrorCode, reason: string): void {
    this.closeWith(new StreamResetError(code, reason, true), false);
  }

  handleWindow(increment: number): void {
    this.sendCredit += increment;
    if (this.outBytes > 0) this.host.markSendable(this);
  }

  /** The session is gone: fail without sending anything. */
  abort(err: Error): void {
    this.closeWith(err, false);
  }

  // ---- called by the session's writer ----

  /** Whether a frame can be taken now. */
  get hasSendable(): boolean {
    if (this.isClosed) return false;
    if (this.head) return true;
    if (this.outBytes > 0) return this.sendCredit > 0;
    return this.finQueued && !this.finSent;
  }

  /**
   * The next frame to send: the head first (heads are not flow-controlled), then DATA of at most
   * `max` bytes within credit, then the FIN, carried as a flag on the frame that empties the queue.
   */
  takeFrame(max: number): OutFrame | null {
    if (this.isClosed) return null;
    if (this.head) {
      const { type, payload } = this.head;
      this.head = null;
      this.headSent = true;
      return { type, flags: this.takeFinFlag(), payload };
    }
    if (this.outBytes > 0) {
      if (this.sendCredit <= 0) return null;
      const chunk = this.out[0]!;
      const n = Math.min(max, this.sendCredit, chunk.length);
      let payload: Buffer;
      if (n === chunk.length) {
        this.out.shift();
        payload = chunk;
      } else {
        payload = chunk.subarray(0, n);
        this.out[0] = chunk.subarray(n);
      }
      this.outBytes -= n;
      this.sendCredit -= n;
      if (this.needDrain && this.outBytes < STREAM_WRITE_HIGH_WATER) {
        this.needDrain = false;
        queueMicrotask(this.drained);
      }
      return { type: FrameType.DATA, flags: this.takeFinFlag(), payload };
    }
    if (this.finQueued && !this.finSent) {
      this.markFinSent();
      return { type: FrameType.FIN, flags: 0, payload: null };
    }
    return null;
  }

  // ---- internals ----

  private takeFinFlag(): number {
    if (!this.finQueued || this.outBytes > 0) return 0;
    this.markFinSent();
    return Flag.FIN;
  }

  private markFinSent(): void {
    this.finSent = true;
    // The writer is building a message: close once it is done, not in the middle of it.
    if (this.finReceived) queueMicrotask(() => this.closeClean());
  }

  private readonly drained = (): void => {
    if (this.isClosed) return;
    try {
      this.handler?.onStreamDrain?.();
    } catch (err) {
      this.handlerFailed(err);
    }
  };

  /** The handler threw: this stream alone ends, the peer told (RESET INTERNAL_ERROR) if it knows it. */
  private handlerFailed(err: unknown): void {
    const reason = `the stream's consumer failed: ${err instanceof Error ? err.message : String(err)}`;
    this.closeWith(new StreamResetError(ErrorCode.INTERNAL_ERROR, reason, false), this.headSent);
  }

  private closeClean(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.host.onStreamClosed(this);
    try {
      this.handler?.onStreamClose();
    } catch {
      // closed already: there is nothing left of this stream to end
    }
  }

  private closeWith(err: Error, sendReset: boolean): void {
    if (this.isClosed) return;
    this.isClosed = true;
    if (sendReset && err instanceof StreamResetError) this.host.sendReset(this, err.code, err.reason);
    this.head = null;
    this.out.length = 0;
    this.outBytes = 0;
    this.host.onStreamClosed(this);
    try {
      this.handler?.onStreamClose(err);
    } catch {
      // closed already: there is nothing left of this stream to end
    }
  }
}
