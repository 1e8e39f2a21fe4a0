/** Something with a deadline: called once it has passed (it may push its deadline further instead). */
export interface Expiring {
  /** performance.now() past which `expire` is called. */
  readonly deadline: number;
  expire(now: number): void;
}

/**
 * One timer for every exchange waiting for the app's answer, instead of a timer per request (a
 * Node timer costs more to arm and clear than the rest of a small request's bookkeeping). It ticks
 * while something waits, every `tickMs`, so a deadline is noticed at most one tick late.
 */
export class Deadlines {
  private readonly waiting = new Set<Expiring>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly tickMs: number) {}

  /** The tick for a timeout: a tenth of it, between 20 ms and 1 s. */
  static tickFor(timeoutMs: number): number {
    return Math.min(1_000, Math.max(20, Math.floor(timeoutMs / 10)));
  }

  add(item: Expiring): void {
    this.waiting.add(item);
    this.timer ??= setInterval(this.tick, this.tickMs).unref();
  }

  delete(item: Expiring): void {
    this.waiting.delete(item);
  }

  private readonly tick = (): void => {
    const now = performance.now();
    for (const item of this.waiting) {
      if (item.deadline > now) continue;
      this.waiting.delete(item);
      item.expire(now);
    }
    if (this.waiting.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  };
}
