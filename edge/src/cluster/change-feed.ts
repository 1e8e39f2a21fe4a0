import type pg from 'pg';
import type { Transaction } from '../store/sql/driver.js';
import type { PostgresDriver } from '../store/sql/postgres-driver.js';
import { ChangeCursor } from './change-cursor.js';

/** What changed; receivers re-read or evict the thing named by `key` (an id or a hash). */
export const CHANGE_TOPICS = ['session', 'token', 'socket', 'tunnel', 'account', 'user', 'signing-keys'] as const;
export type ChangeTopic = (typeof CHANGE_TOPICS)[number];

export interface Change {
  readonly topic: ChangeTopic;
  readonly key: string;
}

/**
 * `change`: one change, delivered at least once to every edge (its own publisher included).
 * `reset`: changes may have been missed (the log was pruned past this edge's position while it
 * could not read): drop every cache.
 */
export type FeedEvent = { readonly type: 'change'; readonly change: Change } | { readonly type: 'reset'; readonly reason: string };

export interface ChangeFeed {
  /** Records a change inside the caller's transaction: nothing is heard if it rolls back. */
  publish(tx: Transaction, change: Change): Promise<void>;
  subscribe(listener: (event: FeedEvent) => void): () => void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface FeedTiming {
  /** The safety net under LISTEN: how often the log is read anyway. */
  readonly pollMs: number;
  /** How long a hole in the sequence is waited for (see ChangeCursor). */
  readonly gapGiveUpMs: number;
  /** How long change rows are kept; an edge that could not read for longer resets its caches. */
  readonly retentionMs: number;
  /** Longest wait between attempts to re-open the LISTEN connection. */
  readonly reconnectMaxMs: number;
}

export const FEED_DEFAULTS: FeedTiming = { pollMs: 1_000, gapGiveUpMs: 30_000, retentionMs: 15 * 60_000, reconnectMaxMs: 5_000 };

const CHANNEL = 'postern_changes';
const PAGE = 500;
/** Pages read per fetch at most; the next fetch goes on from there. */
const MAX_PAGES = 20;

type ChangeRow = { seq: number; topic: ChangeTopic; key: string };

/**
 * Pomerium's shape: a change row and a payload-less `pg_notify` in the same transaction; each edge
 * LISTENs on a connection of its own and reads the log from its cursor when notified, when polling,
 * and after reconnecting (the rows it missed are still there: the replay).
 */
export class PostgresChangeFeed implements ChangeFeed {
  private readonly listeners = new Set<(event: FeedEvent) => void>();
  private cursor: ChangeCursor | undefined;
  private client: pg.Client | undefined;
  private pollTimer: NodeJS.Timeout | undefined;
  private reconnectTimer: NodeJS.Timeout | undefined;
  private reconnectDelay = 0;
  private running = false;
  private fetching: Promise<void> | undefined;
  private fetchAgain = false;
  private lastReadAt = performance.now();

  constructor(
    private readonly db: PostgresDriver,
    private readonly timing: FeedTiming = FEED_DEFAULTS,
  ) {}

  /** The LISTEN connection is open (changes arrive in milliseconds rather than at the next poll). */
  get listening(): boolean {
    return this.client !== undefined;
  }

  async publish(tx: Transaction, change: Change): Promise<void> {
    await tx.exec('INSERT INTO cluster_changes (at, topic, key) VALUES (postern_now_ms(), ?, ?)', [change.topic, change.key]);
    await tx.query(`SELECT pg_notify('${CHANNEL}', '')`);
    tx.afterCommit(() => this.fetchSoon()); // this edge need not wait for its own notification
  }

  subscribe(listener: (event: FeedEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Starts from the changes of the last `gapGiveUpMs` (replayed: a transaction that took its number
   * before this edge started may commit after), then listens and polls.
   */
  async start(): Promise<void> {
    this.running = true;
    const row = await this.db.one<{ seq: number }>(
      'SELECT COALESCE(MAX(seq), 0) AS seq FROM cluster_changes WHERE at < postern_now_ms() - ?',
      [this.timing.gapGiveUpMs],
    );
    this.cursor = new ChangeCursor(row?.seq ?? 0, this.timing.gapGiveUpMs);
    this.lastReadAt = performance.now();
    await this.listen().catch(() => this.scheduleReconnect());
    this.fetchSoon();
    this.schedulePoll();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.pollTimer);
    clearTimeout(this.reconnectTimer);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
    await this.fetching;
  }

  /** Deletes change rows older than the retention (a singleton job's work). */
  prune(): Promise<number> {
    return this.db.exec('DELETE FROM cluster_changes WHERE at < postern_now_ms() - ?', [this.timing.retentionMs]);
  }

  private async listen(): Promise<void> {
    const client = this.db.dedicatedClient('postern-listen');
    const lost = () => {
      if (this.client !== client) return;
      this.client = undefined;
      client.end().catch(() => undefined);
      this.scheduleReconnect();
    };
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', () => this.fetchSoon());
    try {
      await client.connect();
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (err) {
      client.removeAllListeners();
      client.on('error', () => undefined);
      await client.end().catch(() => undefined);
      throw err;
    }
    if (!this.running) {
      await client.end().catch(() => undefined);
      return;
    }
    this.client = client;
    this.reconnectDelay = 0;
    this.fetchSoon(); // what was published while no one listened
  }

  private scheduleReconnect(): void {
    if (!this.running || this.reconnectTimer !== undefined) return;
    this.reconnectDelay = Math.min(this.timing.reconnectMaxMs, Math.max(100, this.reconnectDelay * 2));
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = undefined;
      this.listen().catch(() => this.scheduleReconnect());
    }, this.reconnectDelay);
    this.reconnectTimer.unref();
  }

  private schedulePoll(): void {
    if (!this.running) return;
    this.pollTimer = setTimeout(() => {
      this.fetchSoon();
      this.schedulePoll();
    }, this.timing.pollMs);
    this.pollTimer.unref();
  }

  /** One read at a time; a request during a read makes one more read after it. */
  private fetchSoon(): void {
    if (!this.running || !this.cursor) return;
    if (this.fetching) {
      this.fetchAgain = true;
      return;
    }
    this.fetching = this.fetch()
      .catch(() => undefined) // the poll tries again; the database being away is the lease's and the store's to report
      .finally(() => {
        this.fetching = undefined;
        if (this.fetchAgain) {
          this.fetchAgain = false;
          this.fetchSoon();
        }
      });
  }

  private async fetch(): Promise<void> {
    const cursor = this.cursor!;
    let from = cursor.position;
    for (let page = 0; page < MAX_PAGES; page++) {
      const rows = await this.db.query<ChangeRow>('SELECT seq, topic, key FROM cluster_changes WHERE seq > ? ORDER BY seq LIMIT ?', [from, PAGE]);
      if (page === 0) this.readSucceeded();
      for (const row of cursor.accept(rows, performance.now())) this.emit({ type: 'change', change: { topic: row.topic, key: row.key } });
      if (rows.length < PAGE) return;
      from = rows[rows.length - 1]!.seq;
    }
  }

  private readSucceeded(): void {
    const now = performance.now();
    // Rows older than the retention may be gone: what this edge missed cannot be replayed.
    if (now - this.lastReadAt > this.timing.retentionMs) this.emit({ type: 'reset', reason: 'the change log could not be read for longer than it is kept' });
    this.lastReadAt = now;
  }

  private emit(event: FeedEvent): void {
    for (const listener of this.listeners) {
      try {
        listener(event);
      } catch {
        // A listener's failure must not stop the others or the feed.
      }
    }
  }
}
