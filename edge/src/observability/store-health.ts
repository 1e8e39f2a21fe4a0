import { EventEmitter } from 'node:events';
import { isStoreOutage } from '../store-outage.js';

export interface StoreHealthTiming {
  /** How often the store is pinged. */
  readonly everyMs: number;
  /** A ping that has not answered by then counts as a failure (it may still be running: none starts beside it). */
  readonly timeoutMs: number;
}

/** A second between pings: an outage is seen within about one, and a recovery too. */
export const STORE_HEALTH_DEFAULTS: StoreHealthTiming = { everyMs: 1_000, timeoutMs: 2_000 };

/**
 * Whether the edge's database answers, as one flag everything else reads: readiness, the
 * `postern_store_up` gauge and the grace of cached sessions (auth/outage-grace.ts). It pings the
 * store every second, and a query that failed because the store is not there marks it down at once,
 * so the first refused request does not wait for the next ping; only a ping that answers marks it
 * up again. Events: `down` (when, wall clock) and `up` (how long it was down, ms).
 */
export class StoreHealth extends EventEmitter {
  private since: number | undefined;
  /** The ping under way (it may outlive its timeout), and how many failed queries had been reported when it was sent. */
  private pending: { readonly answer: Promise<boolean>; readonly reportsBefore: number } | undefined;
  private reports = 0;
  private timer: NodeJS.Timeout | undefined;
  private running = false;

  constructor(
    private readonly ping: () => Promise<boolean>,
    private readonly timing: StoreHealthTiming = STORE_HEALTH_DEFAULTS,
    private readonly clock: () => number = Date.now,
  ) {
    super();
  }

  get up(): boolean {
    return this.since === undefined;
  }

  /** When the current outage began (wall clock, ms), or undefined while the store answers. */
  get downSince(): number | undefined {
    return this.since;
  }

  start(): void {
    this.running = true;
    this.schedule();
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
  }

  /**
   * Pings now (bounded by the timeout) and records the answer; resolves with whether the store is up.
   * One ping at a time: a probe while one runs waits for that one, so a hung server is never asked
   * twice at once and pings cannot pile up in the pool.
   */
  async probe(): Promise<boolean> {
    const { answered, reportsBefore } = await this.pingBounded();
    // A ping sent before a query failed says nothing about after: it cannot clear that report.
    if (answered && reportsBefore === this.reports) this.markUp();
    else if (!answered) this.markDown();
    return answered;
  }

  /** A query failed: true (and the store marked down) when it failed because the store did not answer. */
  report(err: unknown): boolean {
    if (!isStoreOutage(err)) return false;
    this.reports++;
    this.markDown();
    return true;
  }

  private async pingBounded(): Promise<{ answered: boolean; reportsBefore: number }> {
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), this.timing.timeoutMs)));
    const pending = (this.pending ??= {
      answer: this.ping()
        .catch(() => false)
        .finally(() => (this.pending = undefined)),
      reportsBefore: this.reports,
    });
    try {
      return { answered: await Promise.race([pending.answer, timedOut]), reportsBefore: pending.reportsBefore };
    } finally {
      clearTimeout(timer);
    }
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = setTimeout(() => void this.probe().finally(() => this.schedule()), this.timing.everyMs);
    this.timer.unref();
  }

  private markDown(): void {
    if (this.since !== undefined) return;
    this.since = this.clock();
    this.emit('down', this.since);
  }

  private markUp(): void {
    if (this.since === undefined) return;
    const downForMs = this.clock() - this.since;
    this.since = undefined;
    this.emit('up', downForMs);
  }
}
