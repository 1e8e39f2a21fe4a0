import { ReadCache, andThen, type Maybe } from '../store/read-cache.js';
import { checkRecord, type ApiToken, type TokenCheck, type TokenStore } from '../store/tokens.js';

/** A change to a token reaches every edge's cache through the feed; this only bounds what a lost one costs. */
const TTL_MS = 30_000;
const MAX_ENTRIES = 10_000;

/**
 * The token checks of the request path and the tunnel and TCP handshakes: scripts and connectors
 * present the same secret again and again, so each edge reads it once. A hit is synchronous and
 * decided again against the clock (expiry); `forget` (a `token` change) drops it. Unknown secrets
 * are never kept: guessing is the bad-token guard's to stop, and a cache of guesses would only grow.
 */
export class TokenCache {
  private readonly cache = new ReadCache<string, ApiToken | undefined>({ maxEntries: MAX_ENTRIES, ttlMs: TTL_MS, keep: (token) => token !== undefined });

  constructor(private readonly tokens: Pick<TokenStore, 'check'>) {}

  check(secret: string, now = Date.now()): Maybe<TokenCheck> {
    return andThen(
      this.cache.get(secret, async () => (await this.tokens.check(secret, now)).token),
      (token): TokenCheck => (token ? checkRecord(token, now) : { ok: false, reason: 'unknown' }),
    );
  }

  /** The token changed (revoked, deleted): its next use reads it again. Revocations are rare; the walk is bounded. */
  forget(tokenId: string): void {
    this.cache.deleteWhere((token) => token?.id === tokenId);
  }

  clear(): void {
    this.cache.clear();
  }

  get size(): number {
    return this.cache.size;
  }
}
