import { ProtocolError } from './errors.js';
import {
  ErrorCode,
  FrameType,
  HEADER_SIZE,
  MAX_EVENT_PAYLOAD,
  MAX_HEAD_PAYLOAD,
  MAX_JSON_PAYLOAD,
  MAX_PAYLOAD,
  PROTOCOL_VERSION,
  type Frame,
} from './frame.js';

/** Payload length rules per frame type: [min, max]. */
const PAYLOAD_LIMITS: Readonly<Record<number, readonly [number, number]>> = {
  [FrameType.OPEN]: [1, MAX_HEAD_PAYLOAD],
  [FrameType.ACCEPT]: [0, 0],
  [FrameType.DATA]: [0, MAX_PAYLOAD],
  [FrameType.WINDOW]: [4, 4],
  [FrameType.FIN]: [0, 0],
  [FrameType.RESET]: [4, 4 + 1024],
  [FrameType.PING]: [8, 8],
  [FrameType.GOAWAY]: [4, 4 + 1024],
  [FrameType.HELLO]: [2, MAX_JSON_PAYLOAD],
  [FrameType.EVENT]: [2, MAX_EVENT_PAYLOAD],
  [FrameType.RESPONSE]: [1, MAX_HEAD_PAYLOAD],
};

/** Frames that belong to the session (stream id 0) rather than to one stream. */
const SESSION_FRAMES = new Set<number>([FrameType.PING, FrameType.GOAWAY, FrameType.HELLO, FrameType.EVENT]);

/** Writes a frame header at `offset` of `target`. */
export function writeHeader(
  target: Buffer,
  offset: number,
  type: FrameType,
  flags: number,
  streamId: number,
  length: number,
): void {
  target[offset] = PROTOCOL_VERSION;
  target[offset + 1] = type;
  target.writeUInt16BE(flags, offset + 2);
  target.writeUInt32BE(streamId, offset + 4);
  target.writeUInt32BE(length, offset + 8);
}

/** Encodes one frame into a fresh buffer. */
export function encodeFrame(type: FrameType, flags: number, streamId: number, payload?: Uint8Array): Buffer {
  const length = payload?.length ?? 0;
  const out = Buffer.allocUnsafe(HEADER_SIZE + length);
  writeHeader(out, 0, type, flags, streamId, length);
  if (payload && length > 0) out.set(payload, HEADER_SIZE);
  return out;
}

export function encodeU32(value: number): Buffer {
  const b = Buffer.allocUnsafe(4);
  b.writeUInt32BE(value >>> 0, 0);
  return b;
}

/** RESET and GOAWAY payload: a 32-bit code followed by a short UTF-8 reason. */
export function encodeCodeAndReason(code: number, reason: string): Buffer {
  const text = Buffer.from(reason, 'utf8').subarray(0, 1024);
  const out = Buffer.allocUnsafe(4 + text.length);
  out.writeUInt32BE(code >>> 0, 0);
  out.set(text, 4);
  return out;
}

export function decodeCodeAndReason(payload: Buffer): { code: number; reason: string } {
  return { code: payload.readUInt32BE(0), reason: payload.subarray(4).toString('utf8') };
}

export function decodeJson<T>(payload: Buffer, what: string): T {
  try {
    const value: unknown = JSON.parse(payload.toString('utf8'));
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
    return value as T;
  } catch (err) {
    throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `malformed ${what}: ${(err as Error).message}`);
  }
}

/** Checks a parsed header; throws ProtocolError with a precise message. */
function validateHeader(version: number, type: number, streamId: number, length: number): void {
  if (version !== PROTOCOL_VERSION) {
    throw new ProtocolError(
      ErrorCode.VERSION_MISMATCH,
      `frame has protocol version ${version}, this side speaks ${PROTOCOL_VERSION}`,
    );
  }
  const limits = PAYLOAD_LIMITS[type];
  if (!limits) throw new ProtocolError(ErrorCode.PROTOCOL_ERROR, `unknown frame type 0x${type.toString(16)}`);
  if (length > MAX_PAYLOAD || length < limits[0] || length > limits[1]) {
    throw new ProtocolError(
      ErrorCode.FRAME_SIZE_ERROR,
      `frame type 0x${type.toString(16)} with a ${length}-byte payload (allowed ${limits[0]}..${limits[1]})`,
    );
  }
  if (SESSION_FRAMES.has(type) !== (streamId === 0)) {
    throw new ProtocolError(
      ErrorCode.PROTOCOL_ERROR,
      `frame type 0x${type.toString(16)} on ${streamId === 0 ? 'stream 0' : `stream ${streamId}`}`,
    );
  }
}

/**
 * Incremental decoder: accepts bytes in any chunking and emits whole frames.
 * Payloads are views into the input when a frame sits inside one chunk (no copy).
 */
export class FrameDecoder {
  private pending: Buffer[] = [];
  private pendingLength = 0;
  /** Bytes the pending partial frame needs before decoding can progress: a header, then the whole frame. */
  private pendingNeeded = 0;

  /** True when no partial frame is buffered. */
  get atBoundary(): boolean {
    return this.pendingLength === 0;
  }

  /** Number of bytes of an incomplete frame held. Bounded by HEADER_SIZE + MAX_PAYLOAD. */
  get bufferedBytes(): number {
    return this.pendingLength;
  }

  write(chunk: Buffer, onFrame: (frame: Frame) => void): void {
    let buf = chunk;
    if (this.pendingLength > 0) {
      if (this.pendingLength + chunk.length < this.pendingNeeded) {
        // Still short of what the partial frame needs: keep a copy, concatenate once it is complete
        // (concatenating on every write would make small chunks cost quadratic copying).
        this.pending.push(Buffer.from(chunk));
        this.pendingLength += chunk.length;
        return;
      }
      this.pending.push(chunk);
      buf = Buffer.concat(this.pending, this.pendingLength + chunk.length);
      this.pending = [];
      this.pendingLength = 0;
    }
    let offset = 0;
    let needed = HEADER_SIZE;
    while (buf.length - offset >= HEADER_SIZE) {
      const version = buf[offset]!;
      const type = buf[offset + 1]!;
      const flags = buf.readUInt16BE(offset + 2);
      const streamId = buf.readUInt32BE(offset + 4);
      const length = buf.readUInt32BE(offset + 8);
      validateHeader(version, type, streamId, length);
      const end = offset + HEADER_SIZE + length;
      if (end > buf.length) {
        needed = HEADER_SIZE + length;
        break;
      }
      onFrame({ type: type as FrameType, flags, streamId, payload: buf.subarray(offset + HEADER_SIZE, end) });
      offset = end;
    }
    if (offset < buf.length) {
      // Copy the tail so a small partial frame does not pin a large input buffer.
      const rest = Buffer.from(buf.subarray(offset));
      this.pending.push(rest);
      this.pendingLength = rest.length;
      this.pendingNeeded = needed;
    }
  }
}
