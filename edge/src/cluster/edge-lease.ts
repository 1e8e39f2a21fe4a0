import { EventEmitter } from 'node:events';
import type { SqlDriver } from '../store/sql/driver.js';

export interface EdgeInfo {
  readonly edgeId: string;
  /** Where the other edges reach this one (the edge-to-edge link). */
  readonly advertiseUrl: string;
}

export interface LeaseTiming {
  /** How long a renewal keeps the lease (database clock). */
  readonly ttlMs: number;
  readonly renewEveryMs: number;
}

/** Renewed every 2 s; three renewals may fail (a slow or restarting database) before others count the edge dead. */
export const LEASE_DEFAULTS: LeaseTiming = { ttlMs: 8_000, renewEveryMs: 2_000 };

/**
 * Events: `registered` (a new lease row: at start, and after the lease lapsed or its row was removed,
 * so what hangs off it must be written again), `renewed`, `lost` (no renewal for a TTL: the other
 * edges now count this one as gone).
 */
export interface EdgeLease extends EventEmitter {
  readonly self: EdgeInfo;
  /** The lease is current as far as this edge knows: renewed less than a TTL ago (local monotonic clock). */
  readonly held: boolean;
  start(): Promise<void>;
  /** Stops renewing and removes the row, and with it this edge's presence. */
  stop(): Promise<void>;
  /** Edges whose lease has not expired on the database clock, oldest first, this one included. */
  liveEdges(): Promise<EdgeInfo[]>;
}

/**
 * One row per edge process in `cluster_edges`, whose expiry is set and compared on the database's
 * clock, so edges' clocks never need to agree. A lapsed lease is never extended: the edge registers
 * again (the old row, and its presence, deleted), because the others may already have acted on its
 * absence.
 */
export class PostgresEdgeLease extends EventEmitter implements EdgeLease {
  private validUntil = 0;
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private lostReported = false;
  private renewing: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: SqlDriver,
    readonly self: EdgeInfo,
    private readonly timing: LeaseTiming = LEASE_DEFAULTS,
  ) {
    super();
  }

  get held(): boolean {
    return performance.now() < this.validUntil;
  }

  async start(): Promise<void> {
    this.running = true;
    await this.register(performance.now());
    this.schedule();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.renewing;
    this.validUntil = 0;
    await this.db.exec('DELETE FROM cluster_edges WHERE edge_id = ?', [this.self.edgeId]).catch(() => undefined);
  }

  async liveEdges(): Promise<EdgeInfo[]> {
    const rows = await this.db.query<{ edge_id: string; advertise_url: string }>(
      'SELECT edge_id, advertise_url FROM cluster_edges WHERE expires_at > postern_now_ms() ORDER BY started_at, edge_id',
    );
    return rows.map((row) => ({ edgeId: row.edge_id, advertiseUrl: row.advertise_url }));
  }

  /** Deletes rows of edges dead for longer than `graceMs` (their presence goes with them). */
  pruneDead(graceMs: number): Promise<number> {
    return this.db.exec('DELETE FROM cluster_edges WHERE expires_at < postern_now_ms() - ?', [graceMs]);
  }

  private schedule(): void {
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.renewing = this.renew().finally(() => this.schedule());
    }, this.timing.renewEveryMs);
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    const startedAt = performance.now();
    try {
      const extended = await this.db.exec(
        `UPDATE cluster_edges SET renewed_at = postern_now_ms(), expires_at = postern_now_ms() + ?
         WHERE edge_id = ? AND expires_at > postern_now_ms()`,
        [this.timing.ttlMs, this.self.edgeId],
      );
      if (!this.running) return;
      if (extended === 1) {
        this.granted(startedAt);
        this.emit('renewed');
      } else {
        await this.register(startedAt);
      }
    } catch {
      if (!this.held && !this.lostReported) {
        this.lostReported = true;
        this.emit('lost');
      }
    }
  }

  private async register(startedAt: number): Promise<void> {
    await this.db.transaction(async (tx) => {
      await tx.exec('DELETE FROM cluster_edges WHERE edge_id = ?', [this.self.edgeId]);
      await tx.exec(
        `INSERT INTO cluster_edges (edge_id, advertise_url, started_at, renewed_at, expires_at)
         VALUES (?, ?, postern_now_ms(), postern_now_ms(), postern_now_ms() + ?)`,
        [this.self.edgeId, this.self.advertiseUrl, this.timing.ttlMs],
      );
    });
    this.granted(startedAt);
    this.emit('registered');
  }

  /** The lease runs a TTL from when the request was sent: the database set it no earlier. */
  private granted(startedAt: number): void {
    this.validUntil = startedAt + this.timing.ttlMs;
    this.lostReported = false;
  }
}
