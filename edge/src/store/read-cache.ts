/** A value now, or a promise of it: a cache hit answers without a turn of the event loop. */
export type Maybe<T> = T | Promise<T>;

/** Applies `next` at once to a value, or when a promise of one resolves. */
export function andThen<T, U>(value: Maybe<T>, next: (value: T) => Maybe<U>): Maybe<U> {
  return value instanceof Promise ? value.then(next) : next(value);
}

export interface ReadCacheOptions<V> {
  /** Past this many entries the oldest goes first. */
  readonly maxEntries: number;
  /** How long an entry is served: the safety net under the change feed, which evicts first. */
  readonly ttlMs: number | ((value: V) => number);
  /** Whether a loaded value is kept (default: all). */
  readonly keep?: (value: V) => boolean;
  readonly now?: () => number;
}

/**
 * Store reads kept in memory for the request path: a hit is synchronous, a miss loads once however
 * many ask at the same time. Entries are evicted when the change feed says their row changed; a
 * load that was under way when something was evicted is served to its callers but not kept (it may
 * have read the row before the change).
 */
export class ReadCache<K, V> {
  private readonly entries = new Map<K, { readonly value: V; readonly until: number }>();
  private readonly loading = new Map<K, Promise<V>>();
  /** Goes up on every eviction: a load started before one is not stored. */
  private epoch = 0;
  private readonly now: () => number;

  constructor(private readonly options: ReadCacheOptions<V>) {
    this.now = options.now ?? Date.now;
  }

  /** The cached value if fresh, else undefined (never loads). */
  peek(key: K): V | undefined {
    const entry = this.entries.get(key);
    return entry && entry.until > this.now() ? entry.value : undefined;
  }

  /**
   * The value last kept for `key`, fresh or not, until it is evicted or a load replaces it: what
   * the edge may still answer from while the store does not (auth/outage-grace.ts).
   */
  held(key: K): V | undefined {
    return this.entries.get(key)?.value;
  }

  /** The cached value, or `load`'s (shared with every caller asking for `key` meanwhile). */
  get(key: K, load: () => Promise<V>): Maybe<V> {
    const entry = this.entries.get(key);
    if (entry && entry.until > this.now()) return entry.value;
    const pending = this.loading.get(key);
    if (pending) return pending;
    const epoch = this.epoch;
    const settled = () => {
      if (this.loading.get(key) === loaded) this.loading.delete(key);
    };
    const loaded: Promise<V> = load().then(
      (value) => {
        settled();
        if (epoch === this.epoch && (this.options.keep?.(value) ?? true)) this.set(key, value);
        else this.entries.delete(key); // an expired entry the store no longer confirms is not held
        return value;
      },
      (err: unknown) => {
        settled();
        throw err;
      },
    );
    this.loading.set(key, loaded);
    return loaded;
  }

  set(key: K, value: V): void {
    const { maxEntries, ttlMs } = this.options;
    this.entries.delete(key);
    if (this.entries.size >= maxEntries) this.entries.delete(this.entries.keys().next().value!);
    this.entries.set(key, { value, until: this.now() + (typeof ttlMs === 'number' ? ttlMs : ttlMs(value)) });
  }

  /** Swaps a cached value for a newer one of the same row, keeping its expiry (nothing if absent). */
  replace(key: K, value: V): void {
    const entry = this.entries.get(key);
    if (entry) this.entries.set(key, { value, until: entry.until });
  }

  delete(key: K): void {
    this.epoch++;
    this.entries.delete(key);
    this.loading.delete(key);
  }

  /** Evicts every entry `matches` (a rare, whole-cache walk: a user's identity changed). */
  deleteWhere(matches: (value: V, key: K) => boolean): void {
    this.epoch++;
    for (const [key, entry] of this.entries) if (matches(entry.value, key)) this.entries.delete(key);
    this.loading.clear();
  }

  clear(): void {
    this.epoch++;
    this.entries.clear();
    this.loading.clear();
  }

  get size(): number {
    return this.entries.size;
  }
}
