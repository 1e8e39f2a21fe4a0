import type { EdgeLease } from '../cluster/edge-lease.js';

/** How often the list is re-read: connectors only use it to spread their next connections. */
const REFRESH_EVERY_MS = 5_000;

/**
 * The live edges' advertised URLs, for connectors to spread their connections over (the `peers`
 * of the tunnel handshake): read from the lease table every few seconds, never on a handshake's path.
 */
export class LiveEdgeList {
  private urls: readonly string[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly lease: EdgeLease) {}

  /** The list as last read (empty until the first read answered). */
  readonly current = (): readonly string[] => this.urls;

  start(): void {
    const refresh = () => {
      this.lease.liveEdges().then(
        (edges) => (this.urls = Object.freeze(edges.map((edge) => edge.advertiseUrl).filter(Boolean))),
        () => undefined, // the database is away: keep the last list
      );
    };
    refresh();
    this.timer = setInterval(refresh, REFRESH_EVERY_MS);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
