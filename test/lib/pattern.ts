import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';

const CHUNK = 64 * 1024;

/**
 * Deterministic pseudo-random bytes (xorshift32 from a seed): the same (n, seed) always gives the
 * same stream, so both ends can check a transfer by hash without storing it.
 */
export function* patternChunks(n: number, seed = 0x9e3779b9): Generator<Buffer> {
  let state = seed >>> 0 || 1;
  let remaining = n;
  while (remaining > 0) {
    const size = Math.min(CHUNK, remaining);
    const words = Math.ceil(size / 4);
    const buf = Buffer.allocUnsafe(words * 4);
    for (let i = 0; i < words; i++) {
      state ^= state << 13;
      state >>>= 0;
      state ^= state >>> 17;
      state ^= state << 5;
      state >>>= 0;
      buf.writeUInt32LE(state, i * 4);
    }
    remaining -= size;
    yield buf.subarray(0, size);
  }
}

/** A readable of `n` pattern bytes (backpressure-aware: generated as it is read). */
export function patternStream(n: number, seed?: number): Readable {
  return Readable.from(patternChunks(n, seed), { objectMode: false });
}

/** sha256 (hex) of `n` pattern bytes. */
export function patternSha256(n: number, seed?: number): string {
  const hash = createHash('sha256');
  for (const chunk of patternChunks(n, seed)) hash.update(chunk);
  return hash.digest('hex');
}
