/**
 * Exponential backoff with jitter: the ceiling doubles from `baseMs` to `maxMs`, and each delay is
 * drawn from [ceiling/2, ceiling] so that many connectors restarting together spread out.
 * The random source is injectable for tests.
 */
export class Backoff {
  private attempt = 0;

  constructor(
    private readonly baseMs = 500,
    private readonly maxMs = 30_000,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt. */
  next(): number {
    const ceiling = Math.min(this.maxMs, this.baseMs * 2 ** this.attempt);
    if (ceiling < this.maxMs) this.attempt++;
    return Math.round(ceiling / 2 + this.random() * (ceiling / 2));
  }

  /** After a successful connection: start again from the base delay. */
  reset(): void {
    this.attempt = 0;
  }
}
