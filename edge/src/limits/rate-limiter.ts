import { createHash } from 'node:crypto';

export interface RateLimiterOptions {
  /** Hits allowed per window; also the burst a fresh key may spend at once. */
  readonly count: number;
  readonly windowMs: number;
  /** Keys remembered at most: beyond it the least recently seen key is forgotten (memory stays bounded). */
  readonly maxKeys: number;
  readonly now?: () => number;
}

export type RateDecision =
  | { readonly allowed: true }
  | {
      readonly allowed: false;
      readonly retryAfterMs: number;
      /** True for the first refusal of a key in a window: log that one, stay quiet for the rest. */
      readonly firstRefusal: boolean;
    };

interface Bucket {
  tokens: number;
  updatedAt: number;
  /** When this key's refusal was last reported (-Infinity: never). */
  reportedAt: number;
}

const ALLOWED: RateDecision = { allowed: true };
/** Longer keys (an 8 KiB "email") are kept as their hash, so each key costs little memory. */
const MAX_KEY_LENGTH = 64;

const boundedKey = (key: string): string =>
  key.length <= MAX_KEY_LENGTH ? key : `sha256:${createHash('sha256').update(key).digest('base64url')}`;

/**
 * A token bucket per string key: `count` tokens, refilled evenly over `windowMs` (so after a whole
 * window a key is back to full). Tokens stay whole numbers until time refills them, so a burst is
 * counted exactly: hit `count` passes, hit `count + 1` is refused. A key that is not in the map has
 * a full bucket; the map is kept in least-recently-seen order and capped at `maxKeys` (when full,
 * the least recently seen tenth is forgotten).
 */
export class RateLimiter {
  private readonly buckets = new Map<string, Bucket>();
  private readonly perMs: number;
  private readonly now: () => number;

  constructor(private readonly options: RateLimiterOptions) {
    this.perMs = options.count / options.windowMs;
    this.now = options.now ?? Date.now;
  }

  /** Spends one token of `key`, or says how long until one is back. */
  take(key: string): RateDecision {
    const now = this.now();
    const bucket = this.touch(boundedKey(key), now);
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return ALLOWED;
    }
    const firstRefusal = now - bucket.reportedAt >= this.options.windowMs;
    if (firstRefusal) bucket.reportedAt = now;
    return { allowed: false, retryAfterMs: Math.ceil((1 - bucket.tokens) / this.perMs), firstRefusal };
  }

  /** Gives back a token taken for a hit that should not count (a sign-in that succeeded). */
  refund(key: string): void {
    const bucket = this.buckets.get(boundedKey(key));
    if (bucket) bucket.tokens = Math.min(this.options.count, bucket.tokens + 1);
  }

  /** Keys currently remembered. */
  get size(): number {
    return this.buckets.size;
  }

  /**
   * Drops the least recently seen tenth of the keys in one pass. One at a time would be slow under a
   * flood: each walk from the start of a Map skips the slots its deletions left behind.
   */
  private forgetOldest(): void {
    let count = Math.ceil(this.options.maxKeys / 10);
    for (const key of this.buckets.keys()) {
      if (count-- === 0) break;
      this.buckets.delete(key);
    }
  }

  /** The key's bucket, refilled up to now and moved to the most-recently-seen end. */
  private touch(key: string, now: number): Bucket {
    let bucket = this.buckets.get(key);
    if (bucket) {
      this.buckets.delete(key);
      bucket.tokens = Math.min(this.options.count, bucket.tokens + Math.max(0, now - bucket.updatedAt) * this.perMs);
      bucket.updatedAt = now;
    } else {
      if (this.buckets.size >= this.options.maxKeys) this.forgetOldest();
      bucket = { tokens: this.options.count, updatedAt: now, reportedAt: -Infinity };
    }
    this.buckets.set(key, bucket);
    return bucket;
  }
}
