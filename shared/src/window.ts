/**
 * Flow-control arithmetic for one direction of one stream. Pure: no I/O, the clock is passed in.
 *
 * The receiver advertises `size` bytes of credit. Credit is returned only for bytes the consumer has
 * taken, and only once at least half a window is owed, so updates stay rare. When the consumer keeps
 * up (nothing left buffered) and the window was used up within two round trips, the window doubles
 * up to `maxSize`: a fast consumer on a long link gets a bigger window, a slow one never does.
 */
export const INITIAL_WINDOW = 256 * 1024;
/**
 * 2 MiB: enough for ~40 MB/s per stream at 50 ms RTT, small enough that a bulk stream's bursts do not
 * queue small responses behind megabytes on the shared connection (measured: p99 of small requests
 * during a download rose to 20-150 ms with 8 MiB).
 */
export const MAX_WINDOW = 2 * 1024 * 1024;

export interface WindowGrant {
  /** Credit to send to the peer in a WINDOW frame. */
  readonly increment: number;
  /** The window size after this grant. */
  readonly size: number;
}

export class ReceiveWindow {
  /** Current window size (what the peer may have in flight). */
  size: number;
  /** Total bytes received from the peer. */
  private received = 0;
  /** Total credit ever given to the peer, including the initial window. */
  private limit: number;
  /** Bytes the consumer has taken but not yet credited back. */
  private owed = 0;
  private lastGrantAt: number;

  constructor(
    initial = INITIAL_WINDOW,
    private readonly maxSize = MAX_WINDOW,
    now = 0,
  ) {
    this.size = initial;
    this.limit = initial;
    this.lastGrantAt = now;
  }

  /** Records `bytes` arriving. Returns false when the peer exceeded its credit (a protocol error). */
  receive(bytes: number): boolean {
    this.received += bytes;
    return this.received <= this.limit;
  }

  /** Records that the consumer took `bytes` out of the buffer. */
  consume(bytes: number): void {
    this.owed += bytes;
  }

  /**
   * Decides whether to send credit now. `buffered` is what is still waiting for the consumer,
   * `rttMs` the measured round trip.
   */
  grant(now: number, buffered: number, rttMs: number): WindowGrant | null {
    if (this.owed < this.size / 2) return null;
    let increment = this.owed;
    const keptUp = buffered === 0 && now - this.lastGrantAt < 2 * Math.max(rttMs, 1);
    if (keptUp && this.size < this.maxSize) {
      const grown = Math.min(this.size * 2, this.maxSize);
      increment += grown - this.size;
      this.size = grown;
    }
    this.owed = 0;
    this.limit += increment;
    this.lastGrantAt = now;
    return { increment, size: this.size };
  }

  /** At least half a window is owed: a grant is worth sending. */
  get due(): boolean {
    return this.owed >= this.size / 2;
  }

  /** Bytes the peer may still send before it must wait for credit. */
  get peerCredit(): number {
    return this.limit - this.received;
  }
}
