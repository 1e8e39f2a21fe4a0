import type { SqlDriver, SqlValue } from '../store/sql/driver.js';
import type { EdgeInfo, EdgeLease } from './edge-lease.js';

/** One live tunnel connection on one edge. */
export interface PresenceEntry {
  readonly connectionId: string;
  readonly socketId: string;
  readonly tunnelId: string | null;
}

export interface LiveConnection extends PresenceEntry {
  readonly edge: EdgeInfo;
  readonly connectedAt: number;
}

/**
 * Which edge holds a connection for which socket. `add` and `remove` are called from the tunnel
 * registry's synchronous path and never wait for the database.
 */
export interface Presence {
  add(entry: PresenceEntry): void;
  remove(connectionId: string): void;
  /** Other edges with a live connection for the socket (where to relay), most connections first. */
  locate(socketId: string): Promise<EdgeInfo[]>;
  /** Live connections of the whole cluster, of one socket or of all. */
  liveConnections(socketId?: string): Promise<LiveConnection[]>;
  /** Resolves once the writes asked for so far have been attempted. */
  settled(): Promise<void>;
}

const INSERT_BATCH = 200;

/**
 * Rows in `cluster_presence` tied to this edge's lease: they count only while the lease is live and
 * are deleted with its row. Writes go one at a time in order; one that fails (database away, lease
 * row gone) marks the table out of date, and the next renewal or registration rewrites this edge's
 * rows from the connections it really holds.
 */
export class PostgresPresence implements Presence {
  /** The connections this edge holds, with when they came (edge clock; the lease uses the database's). */
  private readonly local = new Map<string, PresenceEntry & { readonly connectedAt: number }>();
  private queue: Promise<void> = Promise.resolve();
  private stale = false;

  constructor(
    private readonly db: SqlDriver,
    private readonly lease: EdgeLease,
  ) {
    lease.on('registered', () => this.resync());
    lease.on('renewed', () => {
      if (this.stale) this.resync();
    });
  }

  add(entry: PresenceEntry): void {
    const connectedAt = Date.now();
    this.local.set(entry.connectionId, { ...entry, connectedAt });
    this.write(() =>
      this.db.exec(
        `INSERT INTO cluster_presence (connection_id, edge_id, socket_id, tunnel_id, connected_at)
         VALUES (?, ?, ?, ?, ?) ON CONFLICT (connection_id) DO NOTHING`,
        [entry.connectionId, this.lease.self.edgeId, entry.socketId, entry.tunnelId, connectedAt],
      ),
    );
  }

  remove(connectionId: string): void {
    if (!this.local.delete(connectionId)) return;
    this.write(() => this.db.exec('DELETE FROM cluster_presence WHERE connection_id = ?', [connectionId]));
  }

  async locate(socketId: string): Promise<EdgeInfo[]> {
    const rows = await this.db.query<{ edge_id: string; advertise_url: string }>(
      `SELECT e.edge_id, e.advertise_url FROM cluster_presence p JOIN cluster_edges e ON e.edge_id = p.edge_id
       WHERE p.socket_id = ? AND p.edge_id <> ? AND e.expires_at > postern_now_ms()
       GROUP BY e.edge_id, e.advertise_url ORDER BY COUNT(*) DESC, e.edge_id`,
      [socketId, this.lease.self.edgeId],
    );
    return rows.map((row) => ({ edgeId: row.edge_id, advertiseUrl: row.advertise_url }));
  }

  async liveConnections(socketId?: string): Promise<LiveConnection[]> {
    const rows = await this.db.query<{
      connection_id: string;
      socket_id: string;
      tunnel_id: string | null;
      connected_at: number;
      edge_id: string;
      advertise_url: string;
    }>(
      `SELECT p.connection_id, p.socket_id, p.tunnel_id, p.connected_at, e.edge_id, e.advertise_url
       FROM cluster_presence p JOIN cluster_edges e ON e.edge_id = p.edge_id
       WHERE e.expires_at > postern_now_ms() AND (CAST(? AS TEXT) IS NULL OR p.socket_id = ?)
       ORDER BY p.connected_at, p.connection_id`,
      [socketId ?? null, socketId ?? null],
    );
    return rows.map((row) => ({
      connectionId: row.connection_id,
      socketId: row.socket_id,
      tunnelId: row.tunnel_id,
      connectedAt: row.connected_at,
      edge: { edgeId: row.edge_id, advertiseUrl: row.advertise_url },
    }));
  }

  settled(): Promise<void> {
    return this.queue;
  }

  private write(op: () => Promise<unknown>): void {
    this.queue = this.queue.then(async () => {
      if (this.stale || !this.lease.held) {
        this.stale = true; // the next resync writes the whole set
        return;
      }
      try {
        await op();
      } catch {
        this.stale = true;
      }
    });
  }

  /** Replaces this edge's rows with the connections it holds now, in one transaction. */
  private resync(): void {
    this.queue = this.queue.then(async () => {
      this.stale = false;
      const entries = [...this.local.values()];
      try {
        await this.db.transaction(async (tx) => {
          await tx.exec('DELETE FROM cluster_presence WHERE edge_id = ?', [this.lease.self.edgeId]);
          for (let i = 0; i < entries.length; i += INSERT_BATCH) {
            const batch = entries.slice(i, i + INSERT_BATCH);
            const params: SqlValue[] = batch.flatMap((e) => [e.connectionId, this.lease.self.edgeId, e.socketId, e.tunnelId, e.connectedAt]);
            await tx.exec(
              `INSERT INTO cluster_presence (connection_id, edge_id, socket_id, tunnel_id, connected_at)
               VALUES ${batch.map(() => '(?, ?, ?, ?, ?)').join(', ')}`,
              params,
            );
          }
        });
      } catch {
        this.stale = true;
      }
    });
  }
}
