export interface BackoffOptions {
  /** First ceiling. */
  readonly baseMs?: number;
  /** Highest ceiling, for an edge that has been unreachable for long. */
  readonly maxMs?: number;
  /** Highest ceiling while the edge was reachable recently: it is probably restarting. */
  readonly recentMaxMs?: number;
  /** How long after losing a working connection the edge counts as recently reachable. */
  readonly recentWindowMs?: number;
  readonly random?: () => number;
  readonly now?: () => number;
}

/**
 * The reconnect schedule: exponential backoff with jitter. Each delay is drawn from
 * [ceiling/2, ceiling], so that many connectors losing the edge together spread out; the ceiling
 * doubles from `baseMs` after every failed attempt.
 *
 * How high it may climb depends on when the edge was last reachable. Within `recentWindowMs` (30 s)
 * of losing a working connection the ceiling stops at `recentMaxMs` (1 s): an edge that restarts is
 * found again at most about a second after it listens. After that, and when no connection ever
 * worked, it climbs on to `maxMs` (30 s), so an edge that is down for long is not hammered.
 * Defaults: 0.25–0.5 s, then 0.5–1 s while recent; then 1–2, 2–4, … up to 15–30 s.
 */
export class Backoff {
  private attempt = 0;
  /** When a working connection was last lost; undefined when none has worked since the last reset. */
  private lostAt: number | undefined;
  private readonly baseMs: number;
  private readonly maxMs: number;
  private readonly recentMaxMs: number;
  private readonly recentWindowMs: number;
  private readonly random: () => number;
  private readonly now: () => number;

  constructor(options: BackoffOptions = {}) {
    this.baseMs = options.baseMs ?? 500;
    this.maxMs = options.maxMs ?? 30_000;
    this.recentMaxMs = options.recentMaxMs ?? 1_000;
    this.recentWindowMs = options.recentWindowMs ?? 30_000;
    this.random = options.random ?? Math.random;
    this.now = options.now ?? Date.now;
  }

  /** The delay before the next attempt. */
  next(): number {
    const recent = this.lostAt !== undefined && this.now() - this.lostAt < this.recentWindowMs;
    const cap = recent ? this.recentMaxMs : this.maxMs;
    const ceiling = Math.min(cap, this.baseMs * 2 ** this.attempt);
    if (ceiling < cap) this.attempt++;
    return Math.round(ceiling / 2 + this.random() * (ceiling / 2));
  }

  /** A working connection was just lost: the edge was reachable a moment ago. Starts from the base delay. */
  lost(): void {
    this.attempt = 0;
    this.lostAt = this.now();
  }
}
