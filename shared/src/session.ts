import { EventEmitter } from 'node:events';
import type WebSocket from 'ws';
import { decodeCodeAndReason, decodeJson, encodeCodeAndReason, encodeFrame, encodeU32, FrameDecoder, writeHeader } from './codec.js';
import { ProtocolError, SessionClosedError } from './errors.js';
import {
  CloseCode,
  DATA_CHUNK,
  ErrorCode,
  Flag,
  FrameType,
  HEADER_SIZE,
  MAX_EVENT_PAYLOAD,
  type Frame,
  type Hello,
  type OpenPreamble,
  type RequestEvent,
  type StreamKind,
} from './frame.js';
import { MuxStream, type StreamHost } from './stream.js';
import { INITIAL_WINDOW, MAX_WINDOW } from './window.js';

export type SessionRole = 'edge' | 'connector';

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
  stream: [stream: MuxStream, preamble: OpenPreamble];
  hello: [hello: Hello];
  goaway: [code: number, reason: string];
  /** An EVENT from the edge (connector side only): a JSON object whose `t` names its kind. */
  event: [event: Readonly<Record<string, unknown>>];
  close: [info: SessionCloseInfo];
}

/** Streams one side accepts open at once on a session unless told otherwise (the edge opens fewer). */
export const DEFAULT_MAX_STREAMS = 20_000;

const BATCH_SIZE = 64 * 1024;
/** EVENT bytes allowed to wait for the writer: a burst of finished requests in one turn stays bounded. */
const EVENT_QUEUE_LIMIT = 64 * 1024;
/**
 * How long an EVENT may wait to ride along in a message that stream data or control frames send
 * anyway. Under load that is the next turn; only an idle link gets a message of events alone, at most
 * this often (not one per request: an extra message costs a write and a read on each side).
 */
const EVENT_LINGER_MS = 50;

/** A DATA or FIN frame waiting to be copied into the message being built. */
interface DataPart {
  readonly type: typeof FrameType.DATA | typeof FrameType.FIN;
  readonly streamId: number;
  readonly data: Buffer | null;
}
const STREAM_KINDS = new Set<StreamKind>(['http', 'tcp']);
const MAX_STREAM_ID = 0xffff_fffe;

/**
 * A multiplexed session over one WebSocket: many MuxStreams, one fair writer.
 *
 * The writer sends control frames first, then EVENT frames, then DATA round-robin across streams in
 * chunks of at most DATA_CHUNK, packed into WebSocket messages of at most BATCH_SIZE, and stops while
 * more than `highWaterMark` bytes sit unwritten in the socket.
 */
export class MuxSession extends EventEmitter<SessionEvents> implements StreamHost {
  readonly streams = new Map<number, MuxStream>();
  rttMs = 1;
  /** We announced GO_AWAY: the peer must not open new streams. */
  localGoAway = false;
  /** The peer announced GO_AWAY: we must not open new streams. */
  remoteGoAway = false;
  closed = false;
  /** EVENT frames sendEvent() dropped because the writer was backed up. */
  droppedEvents = 0;

  private readonly decoder = new FrameDecoder();
  private readonly control: Buffer[] = [];
  /** Encoded EVENT frames, sent after control frames; `eventBytes` is their total size. */
  private readonly events: Buffer[] = [];
  private eventBytes = 0;
  private eventTimer: NodeJS.Timeout | undefined;
  private readonly ready: MuxStream[] = [];
  private inFlight = 0;
  private flushScheduled = false;
  private nextLocalId: number;
  private lastPeerId = 0;
  private lastReceivedAt = performance.now();
  private pingTimer: NodeJS.Timeout | undefined;
  private closing = false;
  private readonly opts: Required<SessionOptions>;

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

  get activeStreams(): number {
    return this.streams.size;
  }

  /** Bytes handed to the WebSocket and not yet written to the OS: the writer stops above the high-water mark. */
  get queuedBytes(): number {
    return this.inFlight;
  }

  /** Opens a stream to the peer. Throws if the session is draining or closed. */
  open(kind: StreamKind): MuxStream {
    if (this.closed || this.closing) throw new SessionClosedError('tunnel connection is closed');
    if (this.remoteGoAway) throw new SessionClosedError('tunnel connection is draining');
    if (this.nextLocalId > MAX_STREAM_ID) throw new SessionClosedError('stream ids exhausted');
    const id = this.nextLocalId;
    this.nextLocalId += 2;
    const stream = this.createStream(id, kind, true);
    const preamble: OpenPreamble = { v: 1, kind };
    this.queueControl(encodeFrame(FrameType.OPEN, 0, id, Buffer.from(JSON.stringify(preamble))));
    return stream;
  }

  /** Accepts a stream the peer opened (its target is ready). */
  accept(stream: MuxStream): void {
    this.queueControl(encodeFrame(FrameType.ACCEPT, 0, stream.id));
  }

  sendHello(hello: Hello): void {
    this.queueControl(encodeFrame(FrameType.HELLO, 0, 0, Buffer.from(JSON.stringify(hello))));
  }

  /**
   * Sends an EVENT to the connector, best effort: unlike stream data it never waits. It is dropped
   * (counted in `droppedEvents`, returns false) while the writer is at its high-water mark or
   * EVENT_QUEUE_LIMIT bytes of events already wait, and when it encodes to more than
   * MAX_EVENT_PAYLOAD. Encoding happens here, after the cheap checks: a dropped event costs nothing.
   * A queued event goes out with the next message, or after EVENT_LINGER_MS on an idle link.
   */
  sendEvent(event: RequestEvent): boolean {
    if (this.opts.role !== 'edge') throw new Error('only the edge sends EVENT frames');
    if (this.closed || this.closing) return false;
    if (this.inFlight >= this.opts.highWaterMark || this.eventBytes >= EVENT_QUEUE_LIMIT) {
      this.droppedEvents++;
      return false;
    }
    const json = JSON.stringify(event);
    const length = Buffer.byteLength(json);
    if (length > MAX_EVENT_PAYLOAD) {
      this.droppedEvents++;
      return false;
    }
    const frame = Buffer.allocUnsafe(HEADER_SIZE + length);
    writeHeader(frame, 0, FrameType.EVENT, 0, 0, length);
    frame.write(json, HEADER_SIZE, 'utf8');
    this.events.push(frame);
    this.eventBytes += frame.length;
    this.lingerEvents();
    return true;
  }

  /** Tells the peer to open no new streams; existing ones continue. */
  goAway(code: ErrorCode = ErrorCode.NO_ERROR, reason = 'draining'): void {
    if (this.localGoAway || this.closed) return;
    this.localGoAway = true;
    this.queueControl(encodeFrame(FrameType.GOAWAY, 0, 0, encodeCodeAndReason(code, reason)));
  }

  /** Flushes what is queued, then closes the WebSocket. */
  close(code: number = CloseCode.NORMAL, reason = ''): void {
    if (this.closed || this.closing) return;
    this.closing = true;
    this.closeCode = code;
    this.closeReason = reason;
    this.maybeFinishClose();
  }

  /** Closes at once, failing every open stream. */
  destroy(code: number = CloseCode.GOING_AWAY, reason = '', error?: Error): void {
    if (this.closed) return;
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
    if (stream.inReadyList || this.closed) return;
    stream.inReadyList = true;
    this.ready.push(stream);
    this.scheduleFlush();
  }

  sendWindowUpdate(stream: MuxStream, increment: number): void {
    this.queueControl(encodeFrame(FrameType.WINDOW, 0, stream.id, encodeU32(increment)));
  }

  sendReset(stream: MuxStream, code: ErrorCode, reason: string): void {
    if (this.closed) return;
    this.queueControl(encodeFrame(FrameType.RESET, 0, stream.id, encodeCodeAndReason(code, reason)));
  }

  onStreamClosed(stream: MuxStream): void {
    this.streams.delete(stream.id);
    if (this.closing) this.maybeFinishClose();
  }

  violation(code: ErrorCode, message: string): void {
    this.fail(new ProtocolError(code, message));
  }

  // ---- internals ----

  private closeCode: number = CloseCode.NORMAL;
  private closeReason = '';
  private failure: Error | undefined;

  private createStream(id: number, kind: StreamKind, local: boolean): MuxStream {
    const stream = new MuxStream(
      id,
      kind,
      this,
      this.opts.initialWindow,
      this.opts.initialWindow,
      this.opts.maxWindow,
      local,
    );
    this.streams.set(id, stream);
    return stream;
  }

  private queueControl(frame: Buffer): void {
    if (this.closed) return;
    this.control.push(frame);
    this.scheduleFlush();
  }

  /**
   * Flushes in the check phase, after every I/O callback of this loop turn has run: frames produced
   * by many streams in one turn leave in one WebSocket message, one syscall instead of dozens.
   */
  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(this.flushBound);
  }

  private readonly flushBound = (): void => this.flush();

  /** Queued events wait for a message that is sent anyway, or for this timer. */
  private lingerEvents(): void {
    this.eventTimer ??= setTimeout(this.flushEventsBound, EVENT_LINGER_MS).unref();
  }

  private readonly flushEventsBound = (): void => {
    this.eventTimer = undefined;
    if (this.events.length > 0) this.scheduleFlush();
  };

  private flush(): void {
    this.flushScheduled = false;
    if (this.closed) return;
    while (this.inFlight < this.opts.highWaterMark && this.hasQueued) {
      const message = this.buildMessage();
      if (!message) break;
      this.send(message);
    }
    if (this.closing) this.maybeFinishClose();
  }

  /** Frames or stream data wait for the writer. */
  private get hasQueued(): boolean {
    return this.hasUrgent || this.events.length > 0;
  }

  /** Control frames or stream data wait: reason enough for a message (events alone are not). */
  private get hasUrgent(): boolean {
    return this.control.length > 0 || this.ready.length > 0;
  }

  /**
   * Collects one message: control frames first, then events, then DATA round-robin (one chunk per
   * stream per turn, as many turns as fit), up to BATCH_SIZE of payload; then copies it into one
   * exact buffer.
   */
  private buildMessage(): Buffer | null {
    const parts: Array<Buffer | DataPart> = [];
    let size = takeFrames(this.control, parts, 0);
    const beforeEvents = size;
    size = takeFrames(this.events, parts, size);
    this.eventBytes -= size - beforeEvents;
    // Rounds until the batch is full: a lone bulk stream fills whole messages, several share them.
    while (this.ready.length > 0 && size < BATCH_SIZE) {
      const stream = this.ready.shift()!;
      stream.inReadyList = false;
      if (stream.destroyed) continue;
      const data = stream.takeData(Math.min(DATA_CHUNK, BATCH_SIZE - size));
      if (data) {
        parts.push({ type: FrameType.DATA, streamId: stream.id, data });
        size += HEADER_SIZE + data.length;
      } else if (stream.takeFin()) {
        parts.push({ type: FrameType.FIN, streamId: stream.id, data: null });
        size += HEADER_SIZE;
      }
      if (stream.hasSendable && !stream.inReadyList) {
        stream.inReadyList = true;
        this.ready.push(stream);
      }
    }
    if (size === 0) return null;
    if (parts.length === 1 && Buffer.isBuffer(parts[0])) return parts[0];
    const message = Buffer.allocUnsafe(size);
    let offset = 0;
    for (const part of parts) {
      if (Buffer.isBuffer(part)) {
        part.copy(message, offset);
        offset += part.length;
        continue;
      }
      const length = part.data?.length ?? 0;
      writeHeader(message, offset, part.type, 0, part.streamId, length);
      if (part.data) part.data.copy(message, offset + HEADER_SIZE);
      offset += HEADER_SIZE + length;
    }
    return message;
  }

  private send(message: Buffer): void {
    const size = message.length;
    this.inFlight += size;
    this.ws.send(message, { binary: true }, () => {
      this.inFlight -= size;
      if (this.hasUrgent) this.scheduleFlush();
      else if (this.events.length > 0) this.lingerEvents();
      else if (this.closing) this.maybeFinishClose();
    });
  }

  private maybeFinishClose(): void {
    if (this.closed) return;
    if (this.hasQueued || this.inFlight > 0) return;
    this.destroy(this.closeCode, this.closeReason);
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    if (this.closed) return;
    this.lastReceivedAt = performance.now();
    try {
      if (!isBinary) throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, 'text message on the tunnel (frames are binary)');
      this.decoder.write(data, (frame) => this.onFrame(frame));
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

  private onFrame(frame: Frame): void {
    if (this.closed) return;
    const { type, streamId, payload } = frame;
    switch (type) {
      case FrameType.PING:
        if (frame.flags & Flag.ACK) {
          const rtt = performance.now() - payload.readDoubleBE(0);
          if (rtt >= 0 && rtt < 60_000) this.rttMs = this.rttMs * 0.75 + rtt * 0.25;
        } else {
          this.queueControl(encodeFrame(FrameType.PING, Flag.ACK, 0, payload));
        }
        return;
      case FrameType.GOAWAY: {
        const { code, reason } = decodeCodeAndReason(payload);
        this.remoteGoAway = true;
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
        this.onOpen(streamId, payload);
        return;
    }
    const stream = this.streams.get(streamId);
    if (!stream) {
      this.checkKnownId(streamId, type);
      return; // a frame racing a reset of a closed stream: ignore it
    }
    switch (type) {
      case FrameType.ACCEPT:
        stream.handleAccept();
        return;
      case FrameType.DATA:
        stream.handleData(payload);
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
    const neverOpened =
      streamId % 2 === peerParity ? streamId > this.lastPeerId : streamId >= this.nextLocalId;
    if (neverOpened) {
      throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `frame type 0x${type.toString(16)} for unknown stream ${streamId}`);
    }
  }

  private onOpen(streamId: number, payload: Buffer): void {
    const peerParity = this.opts.role === 'edge' ? 0 : 1;
    if (streamId % 2 !== peerParity) {
      throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `peer opened stream ${streamId} with the wrong parity`);
    }
    if (streamId <= this.lastPeerId) {
      throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `peer reused stream id ${streamId}`);
    }
    this.lastPeerId = streamId;
    const preamble = decodeJson<OpenPreamble>(payload, 'OPEN preamble');
    if (preamble.v !== 1 || !STREAM_KINDS.has(preamble.kind)) {
      this.queueControl(
        encodeFrame(FrameType.RESET, 0, streamId, encodeCodeAndReason(ErrorCode.PROTOCOL_ERROR, 'unsupported stream preamble')),
      );
      return;
    }
    const refusal =
      this.localGoAway || this.closing
        ? 'draining'
        : this.streams.size >= this.opts.maxStreams
          ? 'too many streams'
          : this.listenerCount('stream') === 0
            ? 'this side accepts no streams'
            : null;
    if (refusal) {
      const reason = refusal;
      this.queueControl(encodeFrame(FrameType.RESET, 0, streamId, encodeCodeAndReason(ErrorCode.REFUSED_STREAM, reason)));
      return;
    }
    const stream = this.createStream(streamId, preamble.kind, false);
    this.emit('stream', stream, preamble);
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
    this.queueControl(encodeFrame(FrameType.PING, 0, 0, payload));
  }

  private fail(err: ProtocolError): void {
    if (this.closed) return;
    // Best effort: tell the peer why, then close with a code it can show.
    try {
      this.ws.send(encodeFrame(FrameType.GOAWAY, 0, 0, encodeCodeAndReason(err.code, err.message)));
    } catch {
      /* the socket is already gone */
    }
    const closeCode = err.code === ErrorCode.VERSION_MISMATCH ? CloseCode.VERSION_MISMATCH : CloseCode.PROTOCOL_ERROR;
    this.destroy(closeCode, err.message, err);
  }

  private onClose(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.pingTimer);
    clearTimeout(this.eventTimer);
    const cause = this.failure ?? new SessionClosedError(`tunnel connection closed (${code}${reason ? `: ${reason}` : ''})`);
    for (const stream of [...this.streams.values()]) stream.abort(cause);
    this.streams.clear();
    this.control.length = 0;
    this.events.length = 0;
    this.eventBytes = 0;
    this.ready.length = 0;
    this.emit('close', { code, reason, ...(this.failure ? { error: this.failure } : {}) });
  }
}

/** Moves whole frames from `queue` into `parts` while they fit in one message; returns the new size. */
function takeFrames(queue: Buffer[], parts: Array<Buffer | DataPart>, size: number): number {
  while (queue.length > 0 && (size === 0 || size + queue[0]!.length <= BATCH_SIZE)) {
    const frame = queue.shift()!;
    parts.push(frame);
    size += frame.length;
  }
  return size;
}

/** WebSocket close reasons are limited to 123 bytes. */
function truncateReason(reason: string): string {
  const bytes = Buffer.from(reason, 'utf8');
  return bytes.length <= 123 ? reason : bytes.subarray(0, 120).toString('utf8') + '...';
}


