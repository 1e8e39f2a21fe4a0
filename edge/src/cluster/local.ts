import { EventEmitter } from 'node:events';
import type { ChangeFeed, FeedEvent } from './change-feed.js';
import type { EdgeInfo, EdgeLease } from './edge-lease.js';
import type { LiveConnection, Presence, PresenceEntry } from './presence.js';

/**
 * The cluster of one edge (the SQLite backend): the same interfaces, kept in memory. There are no
 * other edges to tell, to relay to, or to share jobs with.
 */
export class LocalEdgeLease extends EventEmitter implements EdgeLease {
  private started = false;

  constructor(readonly self: EdgeInfo) {
    super();
  }

  get held(): boolean {
    return this.started;
  }

  async start(): Promise<void> {
    this.started = true;
    this.emit('registered');
  }

  async stop(): Promise<void> {
    this.started = false;
  }

  async liveEdges(): Promise<EdgeInfo[]> {
    return this.started ? [this.self] : [];
  }
}

export class LocalPresence implements Presence {
  private readonly local = new Map<string, LiveConnection>();

  constructor(private readonly self: EdgeInfo) {}

  add(entry: PresenceEntry): void {
    this.local.set(entry.connectionId, { ...entry, edge: this.self, connectedAt: Date.now() });
  }

  remove(connectionId: string): void {
    this.local.delete(connectionId);
  }

  async locate(): Promise<EdgeInfo[]> {
    return [];
  }

  async liveConnections(socketId?: string): Promise<LiveConnection[]> {
    return [...this.local.values()].filter((conn) => socketId === undefined || conn.socketId === socketId);
  }

  async settled(): Promise<void> {}
}

/** Changes are heard in this process, once their transaction has committed. */
export class LocalChangeFeed implements ChangeFeed {
  private readonly listeners = new Set<(event: FeedEvent) => void>();

  async publish(tx: Parameters<ChangeFeed['publish']>[0], change: Parameters<ChangeFeed['publish']>[1]): Promise<void> {
    tx.afterCommit(() => {
      for (const listener of this.listeners) {
        try {
          listener({ type: 'change', change });
        } catch {
          // A listener's failure must not stop the others.
        }
      }
    });
  }

  subscribe(listener: (event: FeedEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async start(): Promise<void> {}

  async stop(): Promise<void> {}
}
