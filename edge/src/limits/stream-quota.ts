/** Streams open at once per key (a user or a client address), at most `max` each. */
export class StreamQuota {
  private readonly open = new Map<string, number>();

  constructor(private readonly max: number) {}

  /** Takes a slot for `key` and returns its release (safe to call more than once), or undefined when `key` is full. */
  acquire(key: string): (() => void) | undefined {
    const count = this.open.get(key) ?? 0;
    if (count >= this.max) return undefined;
    this.open.set(key, count + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.open.get(key) ?? 1) - 1;
      if (left > 0) this.open.set(key, left);
      else this.open.delete(key);
    };
  }

  /** Slots `key` holds now. */
  count(key: string): number {
    return this.open.get(key) ?? 0;
  }

  /** Keys holding at least one slot (the map never keeps empty ones). */
  get size(): number {
    return this.open.size;
  }
}
