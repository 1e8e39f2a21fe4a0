import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import {
  decodeCodeAndReason,
  encodeCodeAndReason,
  encodeFrame,
  encodeU32,
  ErrorCode,
  Flag,
  FrameDecoder,
  FrameType,
  HEADER_SIZE,
  MAX_EVENT_PAYLOAD,
  MAX_PAYLOAD,
  PROTOCOL_VERSION,
  ProtocolError,
  type Frame,
} from '../src/index.js';

// ---------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------

interface PlainFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: string; // hex
}

const plain = (f: Frame): PlainFrame => ({
  type: f.type,
  flags: f.flags,
  streamId: f.streamId,
  payload: f.payload.toString('hex'),
});

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

/** Feeds `chunks` to a fresh FrameDecoder; returns the frames and the ProtocolError if one was raised. */
function runDecoder(chunks: readonly Buffer[]): {
  frames: PlainFrame[];
  error: ProtocolError | null;
  atBoundary: boolean;
  bufferedBytes: number;
} {
  const decoder = new FrameDecoder();
  const frames: PlainFrame[] = [];
  let error: ProtocolError | null = null;
  for (const chunk of chunks) {
    try {
      decoder.write(chunk, (f) => frames.push(plain(f)));
    } catch (err) {
      // Anything but a ProtocolError is a bug in the decoder: let it fail the test.
      if (!(err instanceof ProtocolError)) throw err;
      error = err;
      break;
    }
  }
  return { frames, error, atBoundary: decoder.atBoundary, bufferedBytes: decoder.bufferedBytes };
}

/** Cuts `buf` at the given positions (taken modulo its length), in order. */
function chunk(buf: Buffer, cuts: readonly number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => (buf.length === 0 ? 0 : c % (buf.length + 1))))].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let start = 0;
  for (const p of points) {
    out.push(buf.subarray(start, p)); // zero-length chunks are allowed and must be harmless
    start = p;
  }
  out.push(buf.subarray(start));
  return out;
}

// ---------------------------------------------------------------------------------------------
// A naive reference decoder, written from the spec (docs/PROTOCOL.md), not from codec.ts.
// ---------------------------------------------------------------------------------------------

const REF_LIMITS: Record<number, [number, number]> = {
  0x01: [1, 64 * 1024], // OPEN
  0x02: [0, 0], // ACCEPT
  0x03: [0, 64 * 1024], // DATA
  0x04: [4, 4], // WINDOW
  0x05: [0, 0], // FIN
  0x06: [4, 1028], // RESET
  0x07: [8, 8], // PING
  0x08: [4, 1028], // GOAWAY
  0x09: [2, 16 * 1024], // HELLO
  0x0a: [2, 4 * 1024], // EVENT
  0x0b: [1, 64 * 1024], // RESPONSE
};
const REF_SESSION_TYPES = [0x07, 0x08, 0x09, 0x0a];

type RefResult =
  | { frames: PlainFrame[]; error: number; rest: 0 }
  | { frames: PlainFrame[]; error: null; rest: number };

/** Parses the whole input at once, one field at a time. */
function referenceDecode(input: Buffer): RefResult {
  const frames: PlainFrame[] = [];
  let i = 0;
  while (input.length - i >= 12) {
    const version = input[i]!;
    const type = input[i + 1]!;
    const flags = input[i + 2]! * 256 + input[i + 3]!;
    const streamId = ((input[i + 4]! << 24) >>> 0) + (input[i + 5]! << 16) + (input[i + 6]! << 8) + input[i + 7]!;
    const length = ((input[i + 8]! << 24) >>> 0) + (input[i + 9]! << 16) + (input[i + 10]! << 8) + input[i + 11]!;
    if (version !== 2) return { frames, error: ErrorCode.VERSION_MISMATCH, rest: 0 };
    const limits = REF_LIMITS[type];
    if (!limits) return { frames, error: ErrorCode.PROTOCOL_ERROR, rest: 0 };
    if (length < limits[0] || length > limits[1]) return { frames, error: ErrorCode.FRAME_SIZE_ERROR, rest: 0 };
    if (REF_SESSION_TYPES.includes(type) !== (streamId === 0)) return { frames, error: ErrorCode.PROTOCOL_ERROR, rest: 0 };
    if (input.length - i - 12 < length) break;
    frames.push({ type, flags, streamId, payload: input.subarray(i + 12, i + 12 + length).toString('hex') });
    i += 12 + length;
  }
  return { frames, error: null, rest: input.length - i };
}

// ---------------------------------------------------------------------------------------------
// Generators
// ---------------------------------------------------------------------------------------------

interface FrameSpec {
  type: FrameType;
  flags: number;
  streamId: number;
  payload: Uint8Array;
}

const ALL_TYPES = Object.values(FrameType) as FrameType[];

/** A valid frame of `type`; payloads kept small so a run stays fast (sizes at the limits are tested below). */
function frameOf(type: FrameType): fc.Arbitrary<FrameSpec> {
  const [min, max] = REF_LIMITS[type]!;
  const session = REF_SESSION_TYPES.includes(type);
  return fc.record({
    type: fc.constant(type),
    flags: fc.oneof(fc.constant(0), fc.constant(Flag.ACK), fc.integer({ min: 0, max: 0xffff })),
    streamId: session ? fc.constant(0) : fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 0xffff_ffff })),
    payload: fc.uint8Array({ minLength: min, maxLength: Math.min(max, min + 600) }),
  });
}

const anyFrame: fc.Arbitrary<FrameSpec> = fc.constantFrom(...ALL_TYPES).chain(frameOf);
const frameList = fc.array(anyFrame, { minLength: 0, maxLength: 25 });
const cuts = fc.oneof(
  fc.array(fc.nat(), { maxLength: 40 }),
  fc.constant([] as number[]),
);

const encodeAll = (frames: readonly FrameSpec[]): Buffer =>
  Buffer.concat(frames.map((f) => encodeFrame(f.type, f.flags, f.streamId, f.payload)));

const expected = (frames: readonly FrameSpec[]): PlainFrame[] =>
  frames.map((f) => ({ type: f.type, flags: f.flags, streamId: f.streamId, payload: Buffer.from(f.payload).toString('hex') }));

// ---------------------------------------------------------------------------------------------
// Fixed vectors
// ---------------------------------------------------------------------------------------------

interface Vector {
  name: string;
  frame: { type: FrameType; flags: number; streamId: number; payload: Buffer };
  wire: string;
}

const VECTORS: Vector[] = [
  {
    name: 'OPEN stream 1 of kind tcp',
    frame: { type: FrameType.OPEN, flags: 0, streamId: 1, payload: Buffer.from([3]) },
    wire: '02 01 0000 00000001 00000001 03',
  },
  {
    name: 'OPEN stream 3 of kind http, GET / with one header, FIN (no body)',
    frame: { type: FrameType.OPEN, flags: Flag.FIN, streamId: 3, payload: Buffer.from('\x01:method\0GET\0:target\0/\0host\0a', 'latin1') },
    wire: '02 01 0002 00000003 0000001d 01 3a6d6574686f64 00 474554 00 3a746172676574 00 2f 00 686f7374 00 61',
  },
  {
    name: 'ACCEPT stream 2',
    frame: { type: FrameType.ACCEPT, flags: 0, streamId: 2, payload: Buffer.alloc(0) },
    wire: '02 02 0000 00000002 00000000',
  },
  {
    name: 'DATA stream 3 "hello"',
    frame: { type: FrameType.DATA, flags: 0, streamId: 3, payload: Buffer.from('hello') },
    wire: '02 03 0000 00000003 00000005 68656c6c6f',
  },
  {
    name: 'DATA with an empty payload',
    frame: { type: FrameType.DATA, flags: 0, streamId: 5, payload: Buffer.alloc(0) },
    wire: '02 03 0000 00000005 00000000',
  },
  {
    name: 'DATA on the largest stream id',
    frame: { type: FrameType.DATA, flags: 0, streamId: 0xffff_fffe, payload: Buffer.from([0xff]) },
    wire: '02 03 0000 fffffffe 00000001 ff',
  },
  {
    name: 'WINDOW stream 1 +256 KiB',
    frame: { type: FrameType.WINDOW, flags: 0, streamId: 1, payload: encodeU32(256 * 1024) },
    wire: '02 04 0000 00000001 00000004 00040000',
  },
  {
    name: 'FIN stream 4',
    frame: { type: FrameType.FIN, flags: 0, streamId: 4, payload: Buffer.alloc(0) },
    wire: '02 05 0000 00000004 00000000',
  },
  {
    name: 'RESET stream 5 CANCEL "bye"',
    frame: { type: FrameType.RESET, flags: 0, streamId: 5, payload: encodeCodeAndReason(ErrorCode.CANCEL, 'bye') },
    wire: '02 06 0000 00000005 00000007 00000005 627965',
  },
  {
    name: 'RESET TARGET_UNREACHABLE without a reason',
    frame: { type: FrameType.RESET, flags: 0, streamId: 6, payload: encodeCodeAndReason(ErrorCode.TARGET_UNREACHABLE, '') },
    wire: '02 06 0000 00000006 00000004 00000006',
  },
  {
    name: 'PING (timestamp 1.5 ms as a big-endian double)',
    frame: { type: FrameType.PING, flags: 0, streamId: 0, payload: hex('3ff8000000000000') },
    wire: '02 07 0000 00000000 00000008 3ff8000000000000',
  },
  {
    name: 'PING answer (ACK flag)',
    frame: { type: FrameType.PING, flags: Flag.ACK, streamId: 0, payload: hex('3ff8000000000000') },
    wire: '02 07 0001 00000000 00000008 3ff8000000000000',
  },
  {
    name: 'GOAWAY NO_ERROR "draining"',
    frame: { type: FrameType.GOAWAY, flags: 0, streamId: 0, payload: encodeCodeAndReason(ErrorCode.NO_ERROR, 'draining') },
    wire: '02 08 0000 00000000 0000000c 00000000 647261696e696e67',
  },
  {
    name: 'GOAWAY PROTOCOL_ERROR "x"',
    frame: { type: FrameType.GOAWAY, flags: 0, streamId: 0, payload: encodeCodeAndReason(ErrorCode.PROTOCOL_ERROR, 'x') },
    wire: '02 08 0000 00000000 00000005 00000001 78',
  },
  {
    name: 'HELLO {"v":1}',
    frame: { type: FrameType.HELLO, flags: 0, streamId: 0, payload: Buffer.from('{"v":1}') },
    wire: '02 09 0000 00000000 00000007 7b2276223a317d',
  },
  {
    name: 'RESPONSE stream 3: 204, FIN',
    frame: { type: FrameType.RESPONSE, flags: Flag.FIN, streamId: 3, payload: Buffer.from(':status\x00204') },
    wire: '02 0b 0002 00000003 0000000b 3a737461747573 00 323034',
  },
  {
    name: 'EVENT {"t":"request"}',
    frame: { type: FrameType.EVENT, flags: 0, streamId: 0, payload: Buffer.from('{"t":"request"}') },
    wire: '02 0a 0000 00000000 0000000f 7b2274223a2272657175657374227d',
  },
];

describe('codec: fixed vectors', () => {
  it('covers every frame type', () => {
    const covered = new Set(VECTORS.map((v) => v.frame.type));
    for (const t of ALL_TYPES) assert.ok(covered.has(t), `no vector for type 0x${t.toString(16)}`);
  });

  for (const v of VECTORS) {
    it(`encodes ${v.name}`, () => {
      const { type, flags, streamId, payload } = v.frame;
      assert.equal(encodeFrame(type, flags, streamId, payload).toString('hex'), hex(v.wire).toString('hex'));
    });
    it(`decodes ${v.name}`, () => {
      const { frames, error, atBoundary } = runDecoder([hex(v.wire)]);
      assert.equal(error, null);
      assert.ok(atBoundary);
      assert.deepEqual(frames, [{ ...v.frame, payload: v.frame.payload.toString('hex') }]);
    });
  }

  it('decodes all vectors back to back in one chunk and one byte at a time', () => {
    const wire = Buffer.concat(VECTORS.map((v) => hex(v.wire)));
    const want = VECTORS.map((v) => ({ ...v.frame, payload: v.frame.payload.toString('hex') }));
    assert.deepEqual(runDecoder([wire]).frames, want);
    const bytes = [...wire].map((b) => Buffer.from([b]));
    const byByte = runDecoder(bytes);
    assert.deepEqual(byByte.frames, want);
    assert.ok(byByte.atBoundary);
  });

  it('has the documented header layout constants', () => {
    assert.equal(HEADER_SIZE, 12);
    assert.equal(PROTOCOL_VERSION, 2);
    assert.equal(MAX_PAYLOAD, 64 * 1024);
    assert.equal(MAX_EVENT_PAYLOAD, 4 * 1024);
  });

  it('encodes an absent payload as a zero length', () => {
    assert.equal(encodeFrame(FrameType.FIN, 0, 9).toString('hex'), '020500000000000900000000');
  });

  it('round-trips code and reason, truncating the reason to 1024 bytes', () => {
    assert.deepEqual(decodeCodeAndReason(encodeCodeAndReason(ErrorCode.TIMEOUT, 'slow')), { code: 10, reason: 'slow' });
    const long = encodeCodeAndReason(ErrorCode.INTERNAL_ERROR, 'x'.repeat(5000));
    assert.equal(long.length, 4 + 1024);
    assert.deepEqual(decodeCodeAndReason(long), { code: 7, reason: 'x'.repeat(1024) });
    // A truncated reason is still a valid RESET payload.
    assert.equal(runDecoder([encodeFrame(FrameType.RESET, 0, 1, long)]).error, null);
  });

  it('encodes u32 big-endian', () => {
    assert.equal(encodeU32(1).toString('hex'), '00000001');
    assert.equal(encodeU32(0xffff_ffff).toString('hex'), 'ffffffff');
  });

  it('decodes payloads at the size limits', () => {
    const maxData = encodeFrame(FrameType.DATA, 0, 1, Buffer.alloc(MAX_PAYLOAD, 0xab));
    const maxOpen = encodeFrame(FrameType.OPEN, 0, 2, Buffer.alloc(64 * 1024, 0x20));
    const maxReset = encodeFrame(FrameType.RESET, 0, 3, Buffer.alloc(1028, 0x41));
    const maxEvent = encodeFrame(FrameType.EVENT, 0, 0, Buffer.alloc(MAX_EVENT_PAYLOAD, 0x20));
    const r = runDecoder(chunk(Buffer.concat([maxData, maxOpen, maxReset, maxEvent]), [1, 100, 70_000, 140_000, 133_000]));
    assert.equal(r.error, null);
    assert.deepEqual(
      r.frames.map((f) => [f.type, f.payload.length / 2]),
      [
        [FrameType.DATA, MAX_PAYLOAD],
        [FrameType.OPEN, 64 * 1024],
        [FrameType.RESET, 1028],
        [FrameType.EVENT, MAX_EVENT_PAYLOAD],
      ],
    );
  });

  it('hands out payloads as views of the input when a frame sits inside one chunk', () => {
    const wire = Buffer.concat([hex(VECTORS[2]!.wire), hex(VECTORS[2]!.wire)]);
    const seen: Buffer[] = [];
    new FrameDecoder().write(wire, (f) => seen.push(f.payload));
    assert.equal(seen.length, 2);
    for (const p of seen) assert.equal(p.buffer, wire.buffer);
  });

  it('keeps only the partial tail of a chunk that ends inside a frame', () => {
    const big = Buffer.concat([encodeFrame(FrameType.DATA, 0, 1, Buffer.alloc(60_000)), hex('0203')]);
    const decoder = new FrameDecoder();
    decoder.write(big, () => {});
    assert.equal(decoder.bufferedBytes, 2);
    assert.equal(decoder.atBoundary, false);
  });

  it('reassembles a max-size frame fed one byte at a time with a bounded amount of copying', () => {
    // Regression: the decoder concatenated everything it held on every write, so a 64 KiB frame
    // arriving in 1-byte chunks cost ~2 GiB of copying (quadratic in the number of chunks).
    const wire = encodeFrame(FrameType.DATA, 0, 7, Buffer.alloc(MAX_PAYLOAD, 0x5a));
    const realConcat = Buffer.concat;
    let copied = 0;
    Buffer.concat = ((list: readonly Uint8Array[], total?: number) => {
      const out = realConcat(list, total);
      copied += out.length;
      return out;
    }) as typeof Buffer.concat;
    let frames = 0;
    try {
      const decoder = new FrameDecoder();
      for (let i = 0; i < wire.length; i++) decoder.write(wire.subarray(i, i + 1), () => frames++);
      assert.ok(decoder.atBoundary);
    } finally {
      Buffer.concat = realConcat;
    }
    assert.equal(frames, 1);
    assert.ok(copied <= 4 * wire.length, `copied ${copied} bytes to reassemble a ${wire.length}-byte frame`);
  });
});

// ---------------------------------------------------------------------------------------------
// Invalid input
// ---------------------------------------------------------------------------------------------

interface BadCase {
  name: string;
  wire: string;
  code: ErrorCode;
}

const BAD: BadCase[] = [
  { name: 'version 0', wire: '00 03 0000 00000001 00000000', code: ErrorCode.VERSION_MISMATCH },
  { name: 'version 1 (the previous protocol)', wire: '01 03 0000 00000001 00000000', code: ErrorCode.VERSION_MISMATCH },
  { name: 'version 3', wire: '03 03 0000 00000001 00000000', code: ErrorCode.VERSION_MISMATCH },
  { name: 'version 1 wins over an unknown type', wire: '01 ff 0000 00000000 ffffffff', code: ErrorCode.VERSION_MISMATCH },
  { name: 'type 0x00', wire: '02 00 0000 00000001 00000000', code: ErrorCode.PROTOCOL_ERROR },
  { name: 'type 0x0c', wire: '02 0c 0000 00000000 00000002 7b7d', code: ErrorCode.PROTOCOL_ERROR },
  { name: 'type 0xff', wire: '02 ff 0000 00000001 00000000', code: ErrorCode.PROTOCOL_ERROR },
  { name: 'DATA one byte over MAX_PAYLOAD', wire: '02 03 0000 00000001 00010001', code: ErrorCode.FRAME_SIZE_ERROR },
  { name: 'DATA with length 0xffffffff', wire: '02 03 0000 00000001 ffffffff', code: ErrorCode.FRAME_SIZE_ERROR },
  { name: 'OPEN over 64 KiB', wire: '02 01 0000 00000001 00010001', code: ErrorCode.FRAME_SIZE_ERROR },
  { name: 'OPEN with no payload', wire: '02 01 0000 00000001 00000000', code: ErrorCode.FRAME_SIZE_ERROR },
  { name: 'RESPONSE over 64 KiB', wire: '02 0b 0000 00000001 00010001', code: ErrorCode.FRAME_SIZE_ERROR },
  { name: 'RESPONSE with no payload', wire: '02 0b 0000 00000001 00000000', code: ErrorCode.FRAME_SIZE_ERROR },
  { name: 'RESPONSE on stream 0', wire: '02 0b 0000 00000000 00000001 00', code: ErrorCode.PROTOCOL_ERROR },
  { name: 'ACCEPT with a payload', wire: '02 02 0000 00000001 00000001 00', code: ErrorCode.FRAME_SIZE_ERROR },
  { name: 'WINDOW with 3 bytes', wire: '02 04 0000 00000001 00000003 000001', code: ErrorCode.FRAME_SIZE_ERROR },
  { name: 'WINDOW with 5 bytes', wire: '02 04 0000 00000001 00000005 0000000100', code: ErrorCode.FRAME_SIZE_ERROR },
  { name: 'FIN with a payload', wire: '02 05 0000 00000001 00000001 00', code: ErrorCode.FRAME_SIZE_ERROR },
  { name: 'RESET with 3 bytes', wire: '02 06 0000 00000001 00000003 000000', code: ErrorCode.FRAME_SIZE_ERROR },
  { name: 'RESET with a reason over 1024 bytes', wire: '02 06 0000 00000001 00000405', code: ErrorCode.FRAME_SIZE_ERROR },
  { name: 'PING with 7 bytes', wire: '02 07 0000 00000000 00000007 00000000000000', code: ErrorCode.FRAME_SIZE_ERROR },
  { name: 'GOAWAY with 0 bytes', wire: '02 08 0000 00000000 00000000', code: ErrorCode.FRAME_SIZE_ERROR },
  { name: 'HELLO over 16 KiB', wire: '02 09 0000 00000000 00004001', code: ErrorCode.FRAME_SIZE_ERROR },
  { name: 'EVENT over 4 KiB', wire: '02 0a 0000 00000000 00001001', code: ErrorCode.FRAME_SIZE_ERROR },
  { name: 'EVENT with 1 byte', wire: '02 0a 0000 00000000 00000001 7b', code: ErrorCode.FRAME_SIZE_ERROR },
  { name: 'OPEN on stream 0', wire: '02 01 0000 00000000 00000002 7b7d', code: ErrorCode.PROTOCOL_ERROR },
  { name: 'ACCEPT on stream 0', wire: '02 02 0000 00000000 00000000', code: ErrorCode.PROTOCOL_ERROR },
  { name: 'DATA on stream 0', wire: '02 03 0000 00000000 00000000', code: ErrorCode.PROTOCOL_ERROR },
  { name: 'WINDOW on stream 0', wire: '02 04 0000 00000000 00000004 00000001', code: ErrorCode.PROTOCOL_ERROR },
  { name: 'FIN on stream 0', wire: '02 05 0000 00000000 00000000', code: ErrorCode.PROTOCOL_ERROR },
  { name: 'RESET on stream 0', wire: '02 06 0000 00000000 00000004 00000000', code: ErrorCode.PROTOCOL_ERROR },
  { name: 'PING on stream 1', wire: '02 07 0000 00000001 00000008 0000000000000000', code: ErrorCode.PROTOCOL_ERROR },
  { name: 'GOAWAY on stream 3', wire: '02 08 0000 00000003 00000004 00000000', code: ErrorCode.PROTOCOL_ERROR },
  { name: 'HELLO on stream 2', wire: '02 09 0000 00000002 00000002 7b7d', code: ErrorCode.PROTOCOL_ERROR },
  { name: 'EVENT on stream 1', wire: '02 0a 0000 00000001 00000002 7b7d', code: ErrorCode.PROTOCOL_ERROR },
];

describe('codec: invalid input raises ProtocolError', () => {
  for (const c of BAD) {
    it(`rejects ${c.name} (${Object.entries(ErrorCode).find(([, v]) => v === c.code)![0]})`, () => {
      const wire = hex(c.wire);
      for (const chunks of [[wire], [...wire].map((b) => Buffer.from([b]))]) {
        const r = runDecoder(chunks);
        assert.ok(r.error instanceof ProtocolError, 'expected a ProtocolError');
        assert.equal(r.error.code, c.code, r.error.message);
        assert.deepEqual(r.frames, []);
      }
      assert.equal(referenceDecode(wire).error, c.code, 'the reference decoder disagrees with the table');
    });
  }

  it('rejects a bad header as soon as its 12 bytes arrive, before any payload', () => {
    const decoder = new FrameDecoder();
    assert.throws(
      () => decoder.write(hex('02 03 0000 00000001 7fffffff'), () => {}),
      (err: unknown) => err instanceof ProtocolError && err.code === ErrorCode.FRAME_SIZE_ERROR,
    );
  });

  it('emits the valid frames that precede a bad one', () => {
    const wire = Buffer.concat([hex(VECTORS[2]!.wire), hex('02 0c 0000 00000001 00000000')]);
    const r = runDecoder([wire]);
    assert.equal(r.frames.length, 1);
    assert.equal(r.error?.code, ErrorCode.PROTOCOL_ERROR);
  });

  it('holds a truncated frame without error and reports how much it holds', () => {
    const wire = hex(VECTORS[2]!.wire);
    for (let cut = 1; cut < wire.length; cut++) {
      const r = runDecoder([wire.subarray(0, cut)]);
      assert.equal(r.error, null);
      assert.deepEqual(r.frames, []);
      assert.equal(r.atBoundary, false);
      assert.equal(r.bufferedBytes, cut);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

describe('codec: properties', () => {
  it('decodes any valid frame sequence under any chunking, as the reference does', () => {
    fc.assert(
      fc.property(frameList, cuts, (frames, cutPoints) => {
        const wire = encodeAll(frames);
        const want = expected(frames);
        const ref = referenceDecode(wire);
        assert.deepEqual(ref, { frames: want, error: null, rest: 0 });
        const r = runDecoder(chunk(wire, cutPoints));
        assert.equal(r.error, null);
        assert.deepEqual(r.frames, want);
        assert.ok(r.atBoundary);
        assert.equal(r.bufferedBytes, 0);
      }),
      { numRuns: 300 },
    );
  });

  it('decodes a valid sequence fed one byte at a time', () => {
    fc.assert(
      fc.property(fc.array(anyFrame, { maxLength: 6 }), (frames) => {
        const wire = encodeAll(frames);
        const r = runDecoder([...wire].map((b) => Buffer.from([b])));
        assert.deepEqual(r.frames, expected(frames));
        assert.ok(r.atBoundary);
      }),
      { numRuns: 50 },
    );
  });

  it('holds a truncated sequence: the whole frames come out, the tail waits', () => {
    fc.assert(
      fc.property(fc.array(anyFrame, { minLength: 1, maxLength: 10 }), fc.nat(), cuts, (frames, cutAt, cutPoints) => {
        const wire = encodeAll(frames);
        const truncated = wire.subarray(0, cutAt % (wire.length + 1));
        const ref = referenceDecode(truncated);
        assert.equal(ref.error, null);
        const r = runDecoder(chunk(truncated, cutPoints));
        assert.equal(r.error, null);
        assert.deepEqual(r.frames, ref.frames);
        assert.deepEqual(r.frames, expected(frames).slice(0, r.frames.length));
        assert.equal(r.bufferedBytes, ref.rest);
        assert.equal(r.atBoundary, ref.rest === 0);
      }),
      { numRuns: 200 },
    );
  });

  it('answers random garbage with frames or a ProtocolError exactly as the reference does, never anything else', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), cuts, (garbage, cutPoints) => {
        const wire = Buffer.from(garbage);
        const ref = referenceDecode(wire);
        const r = runDecoder(chunk(wire, cutPoints)); // rethrows anything that is not a ProtocolError
        assert.deepEqual(r.frames, ref.frames);
        assert.equal(r.error?.code ?? null, ref.error);
        if (ref.error === null) assert.equal(r.bufferedBytes, ref.rest);
      }),
      { numRuns: 500 },
    );
  });

  it('answers mutated valid sequences (bit flips in headers and lengths) as the reference does', () => {
    const mutation = fc.record({ at: fc.nat(), xor: fc.integer({ min: 1, max: 255 }) });
    fc.assert(
      fc.property(
        fc.array(anyFrame, { minLength: 1, maxLength: 8 }),
        fc.array(mutation, { minLength: 1, maxLength: 4 }),
        cuts,
        (frames, mutations, cutPoints) => {
          const wire = Buffer.from(encodeAll(frames));
          // Aim most mutations at header bytes, where they matter.
          const headerOffsets: number[] = [];
          let off = 0;
          for (const f of frames) {
            for (let k = 0; k < HEADER_SIZE; k++) headerOffsets.push(off + k);
            off += HEADER_SIZE + f.payload.length;
          }
          for (const m of mutations) {
            const pos = m.at % 3 === 0 ? m.at % wire.length : headerOffsets[m.at % headerOffsets.length]!;
            wire[pos] = wire[pos]! ^ m.xor;
          }
          const ref = referenceDecode(wire);
          const r = runDecoder(chunk(wire, cutPoints));
          assert.deepEqual(r.frames, ref.frames);
          assert.equal(r.error?.code ?? null, ref.error);
        },
      ),
      { numRuns: 500 },
    );
  });

  it('answers a wrong version, unknown type, oversized length or wrong stream-0 use with the right code', () => {
    const badHeader = fc.oneof(
      fc.record({ kind: fc.constant('version' as const), v: fc.integer({ min: 0, max: 255 }).filter((v) => v !== 2) }),
      fc.record({ kind: fc.constant('type' as const), v: fc.integer({ min: 0, max: 255 }).filter((t) => !REF_LIMITS[t]) }),
      fc.record({ kind: fc.constant('size' as const), v: fc.integer({ min: 0, max: 0xffff_ffff }) }),
      fc.record({ kind: fc.constant('stream0' as const), v: fc.integer({ min: 0, max: 0xffff_ffff }) }),
    );
    fc.assert(
      fc.property(fc.array(anyFrame, { maxLength: 5 }), anyFrame, badHeader, cuts, (before, target, bad, cutPoints) => {
        const frame = Buffer.from(encodeFrame(target.type, target.flags, target.streamId, target.payload));
        let want: ErrorCode;
        switch (bad.kind) {
          case 'version':
            frame[0] = bad.v;
            want = ErrorCode.VERSION_MISMATCH;
            break;
          case 'type':
            frame[1] = bad.v;
            want = ErrorCode.PROTOCOL_ERROR;
            break;
          case 'size': {
            const [min, max] = REF_LIMITS[target.type]!;
            if (bad.v >= min && bad.v <= max) return; // not oversized/undersized: nothing to check
            frame.writeUInt32BE(bad.v, 8);
            want = ErrorCode.FRAME_SIZE_ERROR;
            break;
          }
          case 'stream0': {
            const session = REF_SESSION_TYPES.includes(target.type);
            frame.writeUInt32BE(session ? Math.max(1, bad.v) : 0, 4);
            want = ErrorCode.PROTOCOL_ERROR;
            break;
          }
        }
        const wire = Buffer.concat([encodeAll(before), frame]);
        const r = runDecoder(chunk(wire, cutPoints));
        assert.deepEqual(r.frames, expected(before));
        assert.ok(r.error instanceof ProtocolError);
        assert.equal(r.error.code, want, r.error.message);
      }),
      { numRuns: 400 },
    );
  });
});
