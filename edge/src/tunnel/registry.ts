import type { TunnelConnection } from './connection.js';

/**
 * Live tunnel connections per socket. New requests go to the least busy usable connection that
 * carries fewer than `maxStreamsPerConnection` streams.
 */
export class TunnelRegistry {
  private readonly bySocket = new Map<string, Set<TunnelConnection>>();
  private rotation = 0;

  constructor(private readonly maxStreamsPerConnection = Number.POSITIVE_INFINITY) {}

  add(conn: TunnelConnection): void {
    let set = this.bySocket.get(conn.info.socketId);
    if (!set) this.bySocket.set(conn.info.socketId, (set = new Set()));
    set.add(conn);
  }

  remove(conn: TunnelConnection): void {
    const set = this.bySocket.get(conn.info.socketId);
    if (!set) return;
    set.delete(conn);
    if (set.size === 0) this.bySocket.delete(conn.info.socketId);
  }

  /** The least loaded usable connection of a socket with a free stream, skipping `exclude`; ties rotate. */
  pick(socketId: string, exclude?: TunnelConnection): TunnelConnection | undefined {
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
