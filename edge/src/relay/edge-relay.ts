import type { EdgeInfo } from '../cluster/edge-lease.js';
import type { Presence } from '../cluster/presence.js';
import type { EdgeMetrics } from '../observability/metrics.js';
import type { StreamCarrier } from '../tunnel/carrier.js';
import { RelayCarrier, type PeerLinks } from './peer-links.js';

/** How long where a socket's connectors are is believed (a connector that moved costs one refused stream meanwhile). */
const LOCATE_TTL_MS = 1_000;
/** A peer that could not be reached is skipped this long: a kill -9'ed edge costs one refused connection, not a lease TTL. */
const UNREACHABLE_FOR_MS = 3_000;
const MAX_CACHED = 10_000;

interface Located {
  readonly edges: Promise<EdgeInfo[]>;
  readonly at: number;
  /** The list, once the query answered (what a retry reads without waiting). */
  known?: readonly EdgeInfo[];
}

/**
 * Finds another edge for a socket with no connector here: the edges `presence.locate` names (most
 * connections first), reached over pooled, authenticated links (peer-links.ts). The request was
 * routed, policed and given its identity headers on this edge; the peer only forwards its streams.
 */
export class EdgeRelay {
  private readonly cache = new Map<string, Located>();
  private readonly unreachable = new Map<string, number>();

  constructor(
    private readonly presence: Presence,
    private readonly links: PeerLinks,
    private readonly metrics: EdgeMetrics,
  ) {}

  /** A carrier to an edge that holds a connection of the socket, trying each in turn; undefined when none answers. */
  async carrier(socketId: string): Promise<StreamCarrier | undefined> {
    const now = Date.now();
    for (const edge of await this.locate(socketId, now)) {
      if ((this.unreachable.get(edge.edgeId) ?? 0) > now) continue;
      try {
        const link = await this.links.link(edge);
        this.metrics.relayed('out');
        return link.carrier(socketId);
      } catch {
        this.metrics.relayFailed('connect_failed');
        if (this.unreachable.size > MAX_CACHED) this.unreachable.clear();
        this.unreachable.set(edge.edgeId, Date.now() + UNREACHABLE_FOR_MS);
      }
    }
    return undefined;
  }

  /**
   * Without waiting: another peer already linked that holds the socket, besides the one `exclude`
   * went through (an exchange's retry, see proxy/exchange.ts).
   */
  next(socketId: string, exclude?: StreamCarrier): StreamCarrier | undefined {
    const skip = exclude instanceof RelayCarrier ? exclude.link.peer.edgeId : undefined;
    for (const edge of this.cache.get(socketId)?.known ?? []) {
      const link = edge.edgeId === skip ? undefined : this.links.current(edge);
      if (!link) continue;
      this.metrics.relayed('out');
      return link.carrier(socketId);
    }
    return undefined;
  }

  /** The other edges holding a connection of the socket (cached briefly). */
  located(socketId: string): Promise<readonly EdgeInfo[]> {
    return this.locate(socketId, Date.now());
  }

  private locate(socketId: string, now: number): Promise<EdgeInfo[]> {
    const cached = this.cache.get(socketId);
    if (cached && now - cached.at < LOCATE_TTL_MS) return cached.edges;
    if (this.cache.size > MAX_CACHED) this.cache.clear();
    const lastKnown = cached?.known;
    // With the store away, where the socket's connectors last were is still the best guess (a peer
    // forwards only to a connection it holds): relayed requests keep working through an outage.
    const edges = this.presence.locate(socketId).catch((err: unknown) => {
      if (lastKnown) return [...lastKnown];
      throw err;
    });
    const entry: Located = { edges, at: now, ...(lastKnown ? { known: lastKnown } : {}) };
    this.cache.set(socketId, entry);
    edges.then(
      (list) => (entry.known = list),
      () => this.cache.delete(socketId),
    );
    return edges;
  }
}
