import type { ChangeFeed } from '../cluster/change-feed.js';
import type { SqlDriver } from './sql/driver.js';
import { hashHandle } from './secrets.js';

export interface SessionRecord {
  readonly idHash: string;
  readonly userId: string;
  /** null: the login session on the edge host; otherwise the socket this session belongs to. */
  readonly socketId: string | null;
  /** The login session a socket session was handed off from (sign-out everywhere follows it). */
  readonly parentHash: string | null;
  readonly createdAt: number;
  readonly lastSeenAt: number;
  readonly expiresAt: number;
  readonly revokedAt: number | null;
}

type SessionRow = {
  id_hash: string;
  user_id: string;
  socket_id: string | null;
  parent_hash: string | null;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
  revoked_at: number | null;
};

const toSession = (r: SessionRow): SessionRecord => ({
  idHash: r.id_hash,
  userId: r.user_id,
  socketId: r.socket_id,
  parentHash: r.parent_hash,
  createdAt: r.created_at,
  lastSeenAt: r.last_seen_at,
  expiresAt: r.expires_at,
  revokedAt: r.revoked_at,
});

/** Touches written in one statement at most; a longer list is split. */
const TOUCH_BATCH = 500;

/** Sessions (by hash of the cookie handle) and the one-time codes that hand a login to a socket host. */
export class SessionStore {
  constructor(
    private readonly db: SqlDriver,
    private readonly changes: ChangeFeed,
  ) {}

  async create(handle: string, input: { userId: string; socketId: string | null; parentHash: string | null; expiresAt: number }): Promise<SessionRecord> {
    const record = { idHash: hashHandle(handle), ...input, createdAt: Date.now() };
    await this.db.exec(
      'INSERT INTO sessions (id_hash, user_id, socket_id, parent_hash, created_at, last_seen_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
      [record.idHash, record.userId, record.socketId, record.parentHash, record.createdAt, record.createdAt, record.expiresAt],
    );
    return { ...record, lastSeenAt: record.createdAt, revokedAt: null };
  }

  async find(idHash: string): Promise<SessionRecord | undefined> {
    const row = await this.db.one<SessionRow>('SELECT * FROM sessions WHERE id_hash = ?', [idHash]);
    return row && toSession(row);
  }

  /** Records that these sessions were seen at `now`: one statement per batch (an edge writes them every half minute). */
  async touch(idHashes: readonly string[], now: number): Promise<void> {
    for (let i = 0; i < idHashes.length; i += TOUCH_BATCH) {
      const batch = idHashes.slice(i, i + TOUCH_BATCH);
      await this.db.exec(`UPDATE sessions SET last_seen_at = ? WHERE id_hash IN (${batch.map(() => '?').join(', ')})`, [now, ...batch]);
    }
  }

  /** Revokes one session and every socket session handed off from it; returns the revoked hashes. */
  revokeTree(idHash: string, now = Date.now()): Promise<string[]> {
    return this.revokeWhere('(id_hash = ? OR parent_hash = ?)', [idHash, idHash], now);
  }

  /** Revokes every session of a user (sign out everywhere); returns their hashes. */
  revokeAllOfUser(userId: string, now = Date.now()): Promise<string[]> {
    return this.revokeWhere('user_id = ?', [userId], now);
  }

  /** Revokes a user's sessions on one socket host (their hand-off consent was withdrawn); returns their hashes. */
  revokeAllOfUserOnSocket(userId: string, socketId: string, now = Date.now()): Promise<string[]> {
    return this.revokeWhere('user_id = ? AND socket_id = ?', [userId, socketId], now);
  }

  async createCode(code: string, input: { parentHash: string; socketId: string; returnPath: string; expiresAt: number }): Promise<void> {
    await this.db.exec('DELETE FROM handoff_codes WHERE expires_at <= ?', [Date.now()]);
    await this.db.exec('INSERT INTO handoff_codes (code_hash, parent_hash, socket_id, return_path, expires_at) VALUES (?, ?, ?, ?, ?)', [
      hashHandle(code), input.parentHash, input.socketId, input.returnPath, input.expiresAt,
    ]);
  }

  /** Single use: the code is deleted as it is read, so of two edges redeeming it at once one gets it. Undefined if unknown, used or expired. */
  async consumeCode(code: string): Promise<{ parentHash: string; socketId: string; returnPath: string } | undefined> {
    const row = await this.db.one<{ parent_hash: string; socket_id: string; return_path: string; expires_at: number }>(
      'DELETE FROM handoff_codes WHERE code_hash = ? RETURNING parent_hash, socket_id, return_path, expires_at',
      [hashHandle(code)],
    );
    if (!row || row.expires_at <= Date.now()) return undefined;
    return { parentHash: row.parent_hash, socketId: row.socket_id, returnPath: row.return_path };
  }

  /** Revokes the live sessions `where` matches and tells every edge about each (their streams close, caches forget them). */
  private revokeWhere(where: string, params: readonly string[], now: number): Promise<string[]> {
    return this.db.transaction(async (tx) => {
      const rows = await tx.query<{ id_hash: string }>(`UPDATE sessions SET revoked_at = ? WHERE ${where} AND revoked_at IS NULL RETURNING id_hash`, [now, ...params]);
      for (const { id_hash } of rows) await this.changes.publish(tx, { topic: 'session', key: id_hash });
      return rows.map((r) => r.id_hash);
    });
  }
}
