import { EventEmitter } from 'node:events';
import type WebSocket from 'ws';
import { decodeCodeAndReason, decodeJson, encodeCodeAndReason, encodeFrame, encodeU32, FrameDecoder, writeHeader } from './codec.js';
import { ProtocolError, SessionClosedError } from './errors.js';
import {
  CloseCode,
  ErrorCode,
  Flag,
  FrameType,
  HEADER_SIZE,
  MAX_EVENT_PAYLOAD,
  type Frame,
  type Hello,
  type OpenPreamble,
  type RequestEvent,
} from './frame.js';
import { decodeOpen, decodeResponse, MalformedHeadError, openText } from './head.js';
import { MuxStream, type StreamHandler, type StreamHost } from './stream.js';
import { INITIAL_WINDOW, MAX_WINDOW } from './window.js';
import { SessionWriter } from './writer.js';

export type SessionRole = 'edge' | 'connector';

/**
 * Where a session is in its life. `open`: streams both ways. `draining`: we sent GOAWAY, the peer
 * may open no more streams (ours continue, and we may still open). `closing`: close() was called,
 * what is queued is flushed, then the WebSocket closes; nothing new opens. `closed`: every stream
 * has failed or finished and the WebSocket is gone.
 */
export type SessionState = 'open' | 'draining' | 'closing' | 'closed';

export interface SessionOptions {
  /** The edge opens odd stream ids, the connector even ones. */
  readonly role: SessionRole;
  readonly pingIntervalMs?: number;
  /** The link is declared dead when nothing arrived for this long. */
  readonly deadAfterMs?: number;
  readonly maxStreams?: number;
  /** Bytes handed to the WebSocket and not yet written to the OS: above this, sources wait. */
  readonly highWaterMark?: number;
  readonly initialWindow?: number;
  readonly maxWindow?: number;
}

export interface SessionCloseInfo {
  readonly code: number;
  readonly reason: string;
  /** Set when this side ended the session because of a protocol error or a dead link. */
  readonly error?: Error;
}

export interface SessionEvents {
  /**
   * The peer opened a stream: the listener must attach a handler to it at once (MuxStream.attach).
   * `ended`: the OPEN carried FIN, nothing follows it (a request without a body).
   */
  stream: [stream: MuxStream, preamble: OpenPreamble, ended: boolean];
  hello: [hello: Hello];
  goaway: [code: number, reason: string];
  /** An EVENT from the edge (connector side only): a JSON object whose `t` names its kind. */
  event: [event: Readonly<Record<string, unknown>>];
  close: [info: SessionCloseInfo];
}

/** Streams one side accepts open at once on a session unless told otherwise (the edge opens fewer). */
export const DEFAULT_MAX_STREAMS = 20_000;

const MAX_STREAM_ID = 0xffff_fffe;

/**
 * A multiplexed session over one WebSocket: frames in (decoded, dispatched to streams), frames out
 * through one fair SessionWriter, stream ids, pings, go-away and close.
 */
export class MuxSession extends EventEmitter<SessionEvents> implements StreamHost {
  private rtt = 1;
  private lifecycle: SessionState = 'open';
  /** The peer announced GO_AWAY: we must not open new streams. */
  private peerGoneAway = false;
  private dropped = 0;

  private readonly streams = new Map<number, MuxStream>();
  private readonly writer: SessionWriter;
  private readonly decoder = new FrameDecoder();
  private nextLocalId: number;
  private lastPeerId = 0;
  private lastReceivedAt = performance.now();
  private pingTimer: NodeJS.Timeout | undefined;
  private readonly opts: Required<SessionOptions>;
  private readonly windows: { readonly peerInitial: number; readonly localInitial: number; readonly max: number };
  private closeCode: number = CloseCode.NORMAL;
  private closeReason = '';
  private failure: Error | undefined;

  constructor(
    private readonly ws: WebSocket,
    options: SessionOptions,
  ) {
    super();
    this.opts = {
      pingIntervalMs: 10_000,
      deadAfterMs: 25_000,
      maxStreams: DEFAULT_MAX_STREAMS,
      highWaterMark: 256 * 1024,
      initialWindow: INITIAL_WINDOW,
      maxWindow: MAX_WINDOW,
      ...options,
    };
    this.windows = { peerInitial: this.opts.initialWindow, localInitial: this.opts.initialWindow, max: this.opts.maxWindow };
    this.writer = new SessionWriter(ws, this.opts.highWaterMark, () => this.maybeFinishClose());
    this.nextLocalId = options.role === 'edge' ? 1 : 2;
    ws.binaryType = 'nodebuffer';
    ws.on('message', (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    ws.on('close', (code, reason) => this.onClose(code, reason.toString('utf8')));
    // 'close' follows every socket error; keep the cause (e.g. an oversized message) for it.
    ws.on('error', (err) => {
      this.failure ??= err;
    });
    this.pingTimer = setInterval(() => this.onPingTimer(), this.opts.pingIntervalMs);
    this.pingTimer.unref();
    this.sendPing();
  }

  /** Round trip from PING answers (smoothed, starting from 1 ms), for window growth. */
  get rttMs(): number {
    return this.rtt;
  }

  get state(): SessionState {
    return this.lifecycle;
  }

  get closed(): boolean {
    return this.lifecycle === 'closed';
  }

  /** The peer announced GOAWAY: open() refuses. */
  get peerDraining(): boolean {
    return this.peerGoneAway;
  }

  /** Whether open() would succeed now. */
  get canOpen(): boolean {
    return (this.lifecycle === 'open' || this.lifecycle === 'draining') && !this.peerGoneAway && this.nextLocalId <= MAX_STREAM_ID;
  }

  get activeStreams(): number {
    return this.streams.size;
  }

  /** Bytes handed to the WebSocket and not yet written to the OS: the writer stops above the high-water mark. */
  get queuedBytes(): number {
    return this.writer.queuedBytes;
  }

  /** EVENT frames sendEvent() dropped because the writer was backed up. */
  get droppedEvents(): number {
    return this.dropped;
  }

  /**
   * Opens a stream to the peer with `handler` as its consumer. For http and websocket streams the
   * OPEN carries the request head; `fin` when nothing follows it (a request without a body). Throws
   * SessionClosedError while closing, closed or after the peer's GOAWAY, and HeadError for a head
   * that cannot travel.
   */
  open(preamble: OpenPreamble, handler: StreamHandler, fin = false): MuxStream {
    if (this.lifecycle === 'closing' || this.lifecycle === 'closed') throw new SessionClosedError('tunnel connection is closed');
    if (this.peerGoneAway) throw new SessionClosedError('tunnel connection is draining');
    if (this.nextLocalId > MAX_STREAM_ID) throw new SessionClosedError('stream ids exhausted');
    const payload = openText(preamble);
    const id = this.nextLocalId;
    this.nextLocalId += 2;
    const stream = new MuxStream(id, preamble.kind, this, this.windows, payload, handler, fin);
    this.streams.set(id, stream);
    this.markSendable(stream);
    return stream;
  }

  /** Accepts a tcp stream the peer opened (its target is ready). */
  accept(stream: MuxStream): void {
    this.writer.queueControl(encodeFrame(FrameType.ACCEPT, 0, stream.id));
  }

  sendHello(hello: Hello): void {
    this.writer.queueControl(encodeFrame(FrameType.HELLO, 0, 0, Buffer.from(JSON.stringify(hello))));
  }

  /**
   * Sends an EVENT to the connector, best effort: unlike stream data it never waits. It is dropped
   * (counted in `droppedEvents`, returns false) while the writer is backed up (see
   * SessionWriter.queueEvent) and when it encodes to more than MAX_EVENT_PAYLOAD. Encoding happens
   * after the cheap checks: a dropped event costs nothing.
   */
  sendEvent(event: RequestEvent): boolean {
    if (this.opts.role !== 'edge') throw new Error('only the edge sends EVENT frames');
    if (this.lifecycle === 'closing' || this.lifecycle === 'closed') return false;
    if (this.writer.refusesEvents) return this.drop();
    const json = JSON.stringify(event);
    const length = Buffer.byteLength(json);
    if (length > MAX_EVENT_PAYLOAD) return this.drop();
    const frame = Buffer.allocUnsafe(HEADER_SIZE + length);
    writeHeader(frame, 0, FrameType.EVENT, 0, 0, length);
    frame.write(json, HEADER_SIZE, 'utf8');
    return this.writer.queueEvent(frame) || this.drop();
  }

  /** Tells the peer to open no new streams; existing ones continue. */
  goAway(code: ErrorCode = ErrorCode.NO_ERROR, reason = 'draining'): void {
    if (this.lifecycle !== 'open') return;
    this.lifecycle = 'draining';
    this.writer.queueControl(encodeFrame(FrameType.GOAWAY, 0, 0, encodeCodeAndReason(code, reason)));
  }

  /** Flushes what is queued, then closes the WebSocket. */
  close(code: number = CloseCode.NORMAL, reason = ''): void {
    if (this.lifecycle === 'closing' || this.lifecycle === 'closed') return;
    this.lifecycle = 'closing';
    this.closeCode = code;
    this.closeReason = reason;
    this.maybeFinishClose();
  }

  /** Closes at once, failing every open stream. */
  destroy(code: number = CloseCode.GOING_AWAY, reason = '', error?: Error): void {
    if (this.lifecycle === 'closed') return;
    if (error) this.failure = error;
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) {
      try {
        this.ws.close(code, truncateReason(reason));
      } catch {
        this.ws.terminate();
      }
      // A peer that never answers the close handshake must not keep us waiting.
      setTimeout(() => this.ws.terminate(), 2000).unref();
    }
    this.onClose(code, reason);
  }

  // ---- StreamHost ----

  markSendable(stream: MuxStream): void {
    this.writer.markSendable(stream);
  }

  sendWindowUpdate(stream: MuxStream, increment: number): void {
    this.writer.queueControl(encodeFrame(FrameType.WINDOW, 0, stream.id, encodeU32(increment)));
  }

  sendReset(stream: MuxStream, code: ErrorCode, reason: string): void {
    this.sendResetFor(stream.id, code, reason);
  }

  onStreamClosed(stream: MuxStream): void {
    this.streams.delete(stream.id);
    if (this.lifecycle === 'closing') this.maybeFinishClose();
  }

  violation(code: ErrorCode, message: string): void {
    this.fail(new ProtocolError(code, message));
  }

  // ---- internals ----

  private drop(): false {
    this.dropped++;
    return false;
  }

  private sendResetFor(streamId: number, code: ErrorCode, reason: string): void {
    this.writer.queueControl(encodeFrame(FrameType.RESET, 0, streamId, encodeCodeAndReason(code, reason)));
  }

  private maybeFinishClose(): void {
    if (this.lifecycle !== 'closing' || !this.writer.idle) return;
    this.destroy(this.closeCode, this.closeReason);
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (this.lifecycle === 'closed') return;
    this.lastReceivedAt = performance.now();
    try {
      if (!isBinary) throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, 'text message on the tunnel (frames are binary)');
      this.decoder.write(data, this.onFrameBound);
      if (!this.decoder.atBoundary) {
        throw new ProtocolError(
          ErrorCode.FRAME_SIZE_ERROR,
          `truncated frame: a message ended ${this.decoder.bufferedBytes} bytes into a frame`,
        );
      }
    } catch (err) {
      if (err instanceof ProtocolError) this.fail(err);
      else this.fail(new ProtocolError(ErrorCode.INTERNAL_ERROR, (err as Error).message));
    }
  }

  private readonly onFrameBound = (frame: Frame): void => this.onFrame(frame);

  private onFrame(frame: Frame): void {
    if (this.lifecycle === 'closed') return;
    const { type, streamId, payload } = frame;
    switch (type) {
      case FrameType.PING:
        if (frame.flags & Flag.ACK) {
          const rtt = performance.now() - payload.readDoubleBE(0);
          if (rtt >= 0 && rtt < 60_000) this.rtt = this.rtt * 0.75 + rtt * 0.25;
        } else {
          this.writer.queueControl(encodeFrame(FrameType.PING, Flag.ACK, 0, payload));
        }
        return;
      case FrameType.GOAWAY: {
        const { code, reason } = decodeCodeAndReason(payload);
        this.peerGoneAway = true;
        this.emit('goaway', code, reason);
        return;
      }
      case FrameType.HELLO:
        if (this.opts.role !== 'connector') throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, 'HELLO sent to the edge');
        this.emit('hello', decodeJson<Hello>(payload, 'HELLO'));
        return;
      case FrameType.EVENT:
        if (this.opts.role !== 'connector') throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, 'EVENT sent to the edge');
        this.emit('event', decodeJson<Readonly<Record<string, unknown>>>(payload, 'EVENT'));
        return;
      case FrameType.OPEN:
        this.onOpen(streamId, payload, (frame.flags & Flag.FIN) !== 0);
        return;
    }
    const stream = this.streams.get(streamId);
    if (!stream) {
      this.checkKnownId(streamId, type);
      return; // a frame racing a reset of a closed stream: ignore it
    }
    const fin = (frame.flags & Flag.FIN) !== 0;
    switch (type) {
      case FrameType.DATA:
        stream.handleData(payload, fin);
        return;
      case FrameType.RESPONSE:
        this.onResponse(stream, payload, fin);
        return;
      case FrameType.ACCEPT:
        stream.handleAccept();
        return;
      case FrameType.WINDOW: {
        const increment = payload.readUInt32BE(0);
        if (increment === 0 || stream.sendCredit + increment > 0x7fff_ffff) {
          throw new ProtocolError(ErrorCode.FLOW_CONTROL_ERROR, `invalid window increment ${increment} on stream ${streamId}`);
        }
        stream.handleWindow(increment);
        return;
      }
      case FrameType.FIN:
        stream.handleFin();
        return;
      case FrameType.RESET: {
        const { code, reason } = decodeCodeAndReason(payload);
        stream.handleReset(code as ErrorCode, reason);
        return;
      }
    }
  }

  /** A frame for a stream we do not hold: fine if it was closed, an error if it never existed. */
  private checkKnownId(streamId: number, type: FrameType): void {
    const peerParity = this.opts.role === 'edge' ? 0 : 1;
    const neverOpened = streamId % 2 === peerParity ? streamId > this.lastPeerId : streamId >= this.nextLocalId;
    if (neverOpened) {
      throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `frame type 0x${type.toString(16)} for unknown stream ${streamId}`);
    }
  }

  private onResponse(stream: MuxStream, payload: Buffer, fin: boolean): void {
    if (!stream.local) throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `RESPONSE on stream ${stream.id}, which the peer opened`);
    let head;
    try {
      head = decodeResponse(payload);
    } catch (err) {
      if (!(err instanceof MalformedHeadError)) throw err;
      stream.reset(ErrorCode.PROTOCOL_ERROR, err.message);
      return;
    }
    stream.handleResponse(head, fin);
  }

  private onOpen(streamId: number, payload: Buffer, fin: boolean): void {
    const peerParity = this.opts.role === 'edge' ? 0 : 1;
    if (streamId % 2 !== peerParity) {
      throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `peer opened stream ${streamId} with the wrong parity`);
    }
    if (streamId <= this.lastPeerId) {
      throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `peer reused stream id ${streamId}`);
    }
    this.lastPeerId = streamId;
    let preamble: OpenPreamble;
    try {
      preamble = decodeOpen(payload);
    } catch (err) {
      if (!(err instanceof MalformedHeadError)) throw err;
      this.sendResetFor(streamId, ErrorCode.PROTOCOL_ERROR, `unsupported stream preamble: ${err.message}`);
      return;
    }
    const refusal =
      this.lifecycle !== 'open'
        ? 'draining'
        : this.streams.size >= this.opts.maxStreams
          ? 'too many streams'
          : this.listenerCount('stream') === 0
            ? 'this side accepts no streams'
            : null;
    if (refusal) {
      this.sendResetFor(streamId, ErrorCode.REFUSED_STREAM, refusal);
      return;
    }
    const stream = new MuxStream(streamId, preamble.kind, this, this.windows, null, null, false);
    this.streams.set(streamId, stream);
    this.emit('stream', stream, preamble, fin);
    if (!stream.attached) return stream.reset(ErrorCode.INTERNAL_ERROR, 'no handler for the stream');
    if (fin) stream.handleFin();
  }

  private onPingTimer(): void {
    if (performance.now() - this.lastReceivedAt > this.opts.deadAfterMs) {
      this.destroy(CloseCode.PING_TIMEOUT, 'no answer to pings', new SessionClosedError('tunnel link is dead: no answer to pings'));
      return;
    }
    this.sendPing();
  }

  private sendPing(): void {
    const payload = Buffer.allocUnsafe(8);
    payload.writeDoubleBE(performance.now(), 0);
    this.writer.queueControl(encodeFrame(FrameType.PING, 0, 0, payload));
  }

  private fail(err: ProtocolError): void {
    if (this.lifecycle === 'closed') return;
    // Best effort: tell the peer why, then close with a code it can show.
    this.writer.sendNow(encodeFrame(FrameType.GOAWAY, 0, 0, encodeCodeAndReason(err.code, err.message)));
    const closeCode = err.code === ErrorCode.VERSION_MISMATCH ? CloseCode.VERSION_MISMATCH : CloseCode.PROTOCOL_ERROR;
    this.destroy(closeCode, err.message, err);
  }

  private onClose(code: number, reason: string): void {
    if (this.lifecycle === 'closed') return;
    this.lifecycle = 'closed';
    clearInterval(this.pingTimer);
    this.writer.stop();
    const cause = this.failure ?? new SessionClosedError(`tunnel connection closed (${code}${reason ? `: ${reason}` : ''})`);
    for (const stream of [...this.streams.values()]) stream.abort(cause);
    this.streams.clear();
    this.emit('close', { code, reason, ...(this.failure ? { error: this.failure } : {}) });
  }
}

/** WebSocket close reasons are limited to 123 bytes. */
function truncateReason(reason: string): string {
  const bytes = Buffer.from(reason, 'utf8');
  return bytes.length <= 123 ? reason : bytes.subarray(0, 120).toString('utf8') + '...';
}
