interface Bucket {
  tokens: number;
  at: number;
}

/** Buckets kept before full (idle) ones are dropped. */
const MAX_TRACKED = 10_000;

/**
 * Requests a client address aborted before their answer finished, as token buckets: `max` of them
 * per `windowMs`, refilled smoothly. An empty bucket means the address is refused until a token
 * comes back; that bounds the work a client can make the connector and app start and abandon
 * (HTTP/2 "rapid reset", in HTTP/1.1: open a request, close the connection, again).
 */
export class ResetRate {
  private readonly buckets = new Map<string, Bucket>();
  private readonly msPerToken: number;

  constructor(
    private readonly max: number,
    windowMs: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    this.msPerToken = windowMs / max;
  }

  /** Counts one aborted request of `key`. */
  record(key: string): void {
    const bucket = this.refilled(key) ?? { tokens: this.max, at: this.now() };
    bucket.tokens = Math.max(0, bucket.tokens - 1);
    if (!this.buckets.has(key) && this.buckets.size >= MAX_TRACKED) this.forgetFull();
    this.buckets.set(key, bucket);
  }

  /** Whole seconds until `key` may send again (at least 1), or 0 when it may now. */
  retryAfter(key: string): number {
    const bucket = this.refilled(key);
    if (!bucket || bucket.tokens >= 1) return 0;
    return Math.max(1, Math.ceil(((1 - bucket.tokens) * this.msPerToken) / 1000));
  }

  /** Tracked addresses (full buckets may linger until room is needed). */
  get size(): number {
    return this.buckets.size;
  }

  private refilled(key: string): Bucket | undefined {
    const bucket = this.buckets.get(key);
    if (!bucket) return undefined;
    const now = this.now();
    bucket.tokens = Math.min(this.max, bucket.tokens + (now - bucket.at) / this.msPerToken);
    bucket.at = now;
    return bucket;
  }

  private forgetFull(): void {
    for (const key of [...this.buckets.keys()]) {
      if (this.refilled(key)!.tokens >= this.max) this.buckets.delete(key);
    }
    if (this.buckets.size >= MAX_TRACKED) this.buckets.clear();
  }
}
