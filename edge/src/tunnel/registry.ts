import type { Presence } from '../cluster/presence.js';
import type { StreamCarrier } from './carrier.js';
import type { TunnelConnection } from './connection.js';

/** Where the registry tells the cluster which connections this edge holds (cluster/presence.ts). */
export type PresenceWriter = Pick<Presence, 'add' | 'remove'>;

const NOBODY: PresenceWriter = { add: () => undefined, remove: () => undefined };

/**
 * Live tunnel connections per socket. New requests go to the least busy usable connection that
 * carries fewer than `maxStreamsPerConnection` streams. Every connection added or removed is told
 * to the cluster's presence, so other edges can relay to this one.
 */
export class TunnelRegistry {
  private readonly bySocket = new Map<string, Set<TunnelConnection>>();
  private rotation = 0;

  constructor(
    private readonly maxStreamsPerConnection = Number.POSITIVE_INFINITY,
    private readonly presence: PresenceWriter = NOBODY,
  ) {}

  add(conn: TunnelConnection): void {
    const { id, socketId, tunnelId } = conn.info;
    let set = this.bySocket.get(socketId);
    if (!set) this.bySocket.set(socketId, (set = new Set()));
    set.add(conn);
    this.presence.add({ connectionId: id, socketId, tunnelId });
  }

  remove(conn: TunnelConnection): void {
    const set = this.bySocket.get(conn.info.socketId);
    if (!set?.delete(conn)) return;
    if (set.size === 0) this.bySocket.delete(conn.info.socketId);
    this.presence.remove(conn.info.id);
  }

  /** The least loaded usable connection of a socket with a free stream, skipping `exclude`; ties rotate. */
  pick(socketId: string, exclude?: StreamCarrier): TunnelConnection | undefined {
    const set = this.bySocket.get(socketId);
    if (!set) return undefined;
    let best: TunnelConnection | undefined;
    let bestLoad = Infinity;
    let ties = 0;
    for (const conn of set) {
      if (conn === exclude || !conn.usable || conn.streamsInUse >= this.maxStreamsPerConnection) continue;
      const load = conn.inFlight;
      if (load < bestLoad) {
        best = conn;
        bestLoad = load;
        ties = 1;
      } else if (load === bestLoad && this.rotation % ++ties === 0) {
        best = conn;
      }
    }
    this.rotation++;
    return best;
  }

  /** The socket has usable connections, but every one carries its maximum of streams. */
  isBusy(socketId: string): boolean {
    const usable = this.connections(socketId).filter((conn) => conn.usable);
    return usable.length > 0 && usable.every((conn) => conn.streamsInUse >= this.maxStreamsPerConnection);
  }

  connections(socketId: string): readonly TunnelConnection[] {
    return [...(this.bySocket.get(socketId) ?? [])];
  }

  all(): TunnelConnection[] {
    return [...this.bySocket.values()].flatMap((set) => [...set]);
  }
}
