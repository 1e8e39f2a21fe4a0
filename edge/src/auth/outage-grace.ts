import type { EdgeError } from '../errors.js';
import type { StoreHealth } from '../observability/store-health.js';
import { storeUnavailable } from '../store-outage.js';
import type { Maybe, ReadCache } from '../store/read-cache.js';

/**
 * `--store-outage-grace`: while the database does not answer, a session the edge already holds in
 * its cache keeps serving for this long after the outage began; then, and for anyone the cache
 * does not know, 503. The trade-off is written in docs/SECURITY.md: during the grace a session
 * revoked on another edge (whose change this edge cannot hear) still works here.
 */
export class StoreOutageGrace {
  constructor(
    private readonly store: Pick<StoreHealth, 'downSince' | 'report'>,
    readonly graceMs: number,
  ) {}

  /** The database is known not to answer: cached answers are used without asking it. */
  get storeDown(): boolean {
    return this.store.downSince !== undefined;
  }

  /** Whether a credential cached before the outage may still serve at `now` (always, while the store answers). */
  allows(now = Date.now()): boolean {
    const since = this.store.downSince;
    return since === undefined || now - since < this.graceMs;
  }

  /** The answer once the grace is over. */
  refusal(): EdgeError {
    return storeUnavailable();
  }

  /**
   * `cache`'s answer for `key`, as an outage allows: while the store is down, an entry the cache
   * holds answers alone (no re-check) until the grace ends, then 503; a load that fails because the
   * store went down falls back to the held entry within the grace.
   */
  read<K, V>(cache: ReadCache<K, V>, key: K, load: () => Promise<V>, now = Date.now()): Maybe<V> {
    const held = cache.held(key);
    if (held !== undefined && this.storeDown) {
      if (!this.allows(now)) throw this.refusal();
      return held;
    }
    const loaded = cache.get(key, load);
    return loaded instanceof Promise ? loaded.catch((err: unknown) => this.cachedOnOutage(err, held, now)) : loaded;
  }

  /**
   * A cached answer when the lookup that re-checks it fails because the store is down and the grace
   * allows it; any other failure, or one past the grace, is thrown on (and answered 503 upstream).
   */
  cachedOnOutage<T>(err: unknown, cached: T | undefined, now = Date.now()): T {
    // Reported first: the monitor hears of the outage at once, whether or not anything was cached.
    if (this.store.report(err) && cached !== undefined && this.allows(now)) return cached;
    throw err;
  }

  /**
   * For a credential already in use (an open stream) whose re-check failed: true while the grace
   * lasts, false after it (the stream closes); a failure that is not an outage is thrown on.
   */
  holdsDuringOutage(err: unknown, now = Date.now()): boolean {
    if (!this.store.report(err)) throw err;
    return this.allows(now);
  }
}
