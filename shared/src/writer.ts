import type WebSocket from 'ws';
import { writeHeader } from './codec.js';
import { DATA_CHUNK, HEADER_SIZE, MAX_PAYLOAD, type FrameType } from './frame.js';
import type { MuxStream, OutFrame } from './stream.js';

/** Payload bytes one WebSocket message carries at most (a single head may make it up to one frame larger). */
export const BATCH_SIZE = 64 * 1024;
/** EVENT bytes allowed to wait for the writer: a burst of finished requests in one turn stays bounded. */
const EVENT_QUEUE_LIMIT = 64 * 1024;
/**
 * How long an EVENT may wait to ride along in a message that stream data or control frames send
 * anyway. Under load that is the next turn; only an idle link gets a message of events alone, at most
 * this often (not one per request: an extra message costs a write and a read on each side).
 */
const EVENT_LINGER_MS = 50;

/**
 * Messages at least this large are built in recycled buffers: a fresh 64 KiB buffer per message
 * costs an allocation outside the heap, the page faults of its first touch and garbage collection
 * (measured on a single-stream download: 12 % of the connector's CPU).
 */
const POOLED_MESSAGE = 16 * 1024;
/** Each recycled buffer holds a full batch and the frame headers that fill it. */
const POOL_BUFFER_SIZE = BATCH_SIZE + 64 * HEADER_SIZE;
/** Buffers kept for reuse: enough for the messages in flight under the default high-water mark. */
const POOL_SIZE = 8;

/** A frame taken from a stream, waiting to be copied into the message being built. */
interface StreamPart {
  readonly streamId: number;
  readonly frame: OutFrame;
}

/** Streams with something to send, first in first out, without Array#shift's copying on long queues. */
class ReadyQueue {
  private items: MuxStream[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(stream: MuxStream): void {
    this.items.push(stream);
  }

  shift(): MuxStream | undefined {
    const stream = this.items[this.head++];
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    } else if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    }
    return stream;
  }

  clear(): void {
    this.items = [];
    this.head = 0;
  }
}

/**
 * The one writer of a session's WebSocket. Each message carries control frames first, then EVENT
 * frames, then stream frames round-robin: one frame per ready stream per round, DATA in chunks of at
 * most DATA_CHUNK while other streams wait (a lone stream may fill the message), up to BATCH_SIZE.
 * Messages are built once per loop turn (in the check phase, after the turn's I/O callbacks): frames
 * that many streams produce in one turn leave in one message, one syscall instead of dozens. While
 * `highWaterMark` bytes handed to the socket are unwritten, nothing more is sent and stream writes
 * queue in their streams, which pauses their sources.
 */
export class SessionWriter {
  private readonly control: Buffer[] = [];
  /** Encoded EVENT frames, sent after control frames; `eventBytes` is their total size. */
  private readonly events: Buffer[] = [];
  private eventBytes = 0;
  private eventTimer: NodeJS.Timeout | undefined;
  private readonly ready = new ReadyQueue();
  private inFlight = 0;
  private flushScheduled = false;
  private stopped = false;
  /** Message buffers whose write completed, ready to be filled again. */
  private readonly spare: Buffer[] = [];
  /** The recycled buffer under each message built in one. */
  private readonly pooled = new WeakMap<Buffer, Buffer>();

  constructor(
    private readonly ws: WebSocket,
    private readonly highWaterMark: number,
    /** Called when everything queued has been written to the socket (a closing session then closes). */
    private readonly onIdle: () => void,
  ) {}

  /** Bytes handed to the WebSocket and not yet written to the OS. */
  get queuedBytes(): number {
    return this.inFlight;
  }

  /** Nothing waits and nothing is in flight. */
  get idle(): boolean {
    return !this.hasQueued && this.inFlight === 0;
  }

  queueControl(frame: Buffer): void {
    if (this.stopped) return;
    this.control.push(frame);
    this.scheduleFlush();
  }

  /**
   * Queues an EVENT frame, best effort: refused (false) while the writer is at its high-water mark or
   * EVENT_QUEUE_LIMIT bytes of events already wait. It leaves with the next message, or after
   * EVENT_LINGER_MS on an idle link.
   */
  queueEvent(frame: Buffer): boolean {
    if (this.stopped || this.inFlight >= this.highWaterMark || this.eventBytes >= EVENT_QUEUE_LIMIT) return false;
    this.events.push(frame);
    this.eventBytes += frame.length;
    this.lingerEvents();
    return true;
  }

  /** Whether an event would be refused now (checked before encoding one). */
  get refusesEvents(): boolean {
    return this.stopped || this.inFlight >= this.highWaterMark || this.eventBytes >= EVENT_QUEUE_LIMIT;
  }

  markSendable(stream: MuxStream): void {
    if (stream.inReadyList || this.stopped) return;
    stream.inReadyList = true;
    this.ready.push(stream);
    this.scheduleFlush();
  }

  /** Sends one frame at once, outside the queue (the GOAWAY that explains a failure); best effort. */
  sendNow(frame: Buffer): void {
    try {
      this.ws.send(frame);
    } catch {
      /* the socket is already gone */
    }
  }

  /** Drops everything queued; nothing is sent any more. */
  stop(): void {
    this.stopped = true;
    clearTimeout(this.eventTimer);
    this.control.length = 0;
    this.events.length = 0;
    this.eventBytes = 0;
    this.ready.clear();
  }

  // ---- internals ----

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(this.flushBound);
  }

  private readonly flushBound = (): void => this.flush();

  private lingerEvents(): void {
    this.eventTimer ??= setTimeout(this.flushEventsBound, EVENT_LINGER_MS).unref();
  }

  private readonly flushEventsBound = (): void => {
    this.eventTimer = undefined;
    if (this.events.length > 0) this.scheduleFlush();
  };

  private flush(): void {
    this.flushScheduled = false;
    if (this.stopped) return;
    while (this.inFlight < this.highWaterMark && this.hasQueued) {
      const message = this.buildMessage();
      if (!message) break;
      this.send(message);
    }
    if (this.idle) this.onIdle();
  }

  /** Frames or stream data wait for the writer. */
  private get hasQueued(): boolean {
    return this.hasUrgent || this.events.length > 0;
  }

  /** Control frames or stream data wait: reason enough for a message (events alone are not). */
  private get hasUrgent(): boolean {
    return this.control.length > 0 || this.ready.length > 0;
  }

  /** Collects one message, then copies it into one exact buffer. */
  private buildMessage(): Buffer | null {
    const parts: Array<Buffer | StreamPart> = [];
    let size = takeFrames(this.control, parts, 0);
    const beforeEvents = size;
    size = takeFrames(this.events, parts, size);
    this.eventBytes -= size - beforeEvents;
    // Rounds until the batch is full: a lone bulk stream fills whole messages, several share them.
    while (this.ready.length > 0 && size + HEADER_SIZE < BATCH_SIZE) {
      const stream = this.ready.shift()!;
      stream.inReadyList = false;
      const room = BATCH_SIZE - size - HEADER_SIZE;
      const frame = stream.takeFrame(Math.min(room, this.ready.length === 0 ? MAX_PAYLOAD : DATA_CHUNK));
      if (frame) {
        parts.push({ streamId: stream.id, frame });
        size += HEADER_SIZE + (frame.payload?.length ?? 0);
      }
      if (stream.hasSendable && !stream.inReadyList) {
        stream.inReadyList = true;
        this.ready.push(stream);
      }
    }
    if (size === 0) return null;
    if (parts.length === 1 && Buffer.isBuffer(parts[0])) return parts[0];
    const message = this.allocate(size);
    let offset = 0;
    for (const part of parts) {
      if (Buffer.isBuffer(part)) {
        message.set(part, offset);
        offset += part.length;
        continue;
      }
      const { type, flags, payload } = part.frame;
      const length = payload?.length ?? 0;
      writeHeader(message, offset, type as FrameType, flags, part.streamId, length);
      if (typeof payload === 'string') message.write(payload, offset + HEADER_SIZE, 'latin1');
      else if (payload) message.set(payload, offset + HEADER_SIZE);
      offset += HEADER_SIZE + length;
    }
    return message;
  }

  private allocate(size: number): Buffer {
    if (size < POOLED_MESSAGE || size > POOL_BUFFER_SIZE) return Buffer.allocUnsafe(size);
    const base = this.spare.pop() ?? Buffer.allocUnsafeSlow(POOL_BUFFER_SIZE);
    const message = base.subarray(0, size);
    this.pooled.set(message, base);
    return message;
  }

  private send(message: Buffer): void {
    const size = message.length;
    this.inFlight += size;
    this.ws.send(message, { binary: true }, () => {
      this.inFlight -= size;
      // Written to the socket: its buffer may carry the next message.
      const base = this.pooled.get(message);
      if (base && this.spare.length < POOL_SIZE) this.spare.push(base);
      if (this.stopped) return;
      if (this.hasUrgent) this.scheduleFlush();
      else if (this.events.length > 0) this.lingerEvents();
      else if (this.inFlight === 0) this.onIdle();
    });
  }
}

/** Moves whole frames from `queue` into `parts` while they fit in one message; returns the new size. */
function takeFrames(queue: Buffer[], parts: Array<Buffer | StreamPart>, size: number): number {
  let taken = 0;
  while (taken < queue.length && (size === 0 || size + queue[taken]!.length <= BATCH_SIZE)) {
    const frame = queue[taken++]!;
    parts.push(frame);
    size += frame.length;
  }
  if (taken > 0) queue.splice(0, taken);
  return size;
}
