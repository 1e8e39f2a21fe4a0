import type { Db } from './db.js';
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

interface SessionRow {
  id_hash: string;
  user_id: string;
  socket_id: string | null;
  parent_hash: string | null;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
  revoked_at: number | null;
}

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

/** Sessions (by hash of the cookie handle) and the one-time codes that hand a login to a socket host. */
export class SessionStore {
  private readonly insert;
  private readonly byHash;
  private readonly touchStmt;
  private readonly revokeOne;
  private readonly revokeChildren;
  private readonly liveChildren;
  private readonly revokeUser;
  private readonly liveOfUser;
  private readonly revokeUserOnSocket;
  private readonly liveOfUserOnSocket;
  private readonly insertCode;
  private readonly takeCode;
  private readonly removeCode;
  private readonly sweepCodes;

  constructor(private readonly db: Db) {
    this.insert = db.prepare(
      `INSERT INTO sessions (id_hash, user_id, socket_id, parent_hash, created_at, last_seen_at, expires_at)
       VALUES (@idHash, @userId, @socketId, @parentHash, @createdAt, @createdAt, @expiresAt)`,
    );
    this.byHash = db.prepare<[string], SessionRow>('SELECT * FROM sessions WHERE id_hash = ?');
    this.touchStmt = db.prepare<[number, string]>('UPDATE sessions SET last_seen_at = ? WHERE id_hash = ?');
    this.revokeOne = db.prepare<[number, string]>('UPDATE sessions SET revoked_at = ? WHERE id_hash = ? AND revoked_at IS NULL');
    this.revokeChildren = db.prepare<[number, string]>('UPDATE sessions SET revoked_at = ? WHERE parent_hash = ? AND revoked_at IS NULL');
    this.liveChildren = db.prepare<[string], { id_hash: string }>('SELECT id_hash FROM sessions WHERE parent_hash = ? AND revoked_at IS NULL');
    this.revokeUser = db.prepare<[number, string]>('UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND revoked_at IS NULL');
    this.liveOfUser = db.prepare<[string], { id_hash: string }>('SELECT id_hash FROM sessions WHERE user_id = ? AND revoked_at IS NULL');
    this.revokeUserOnSocket = db.prepare<[number, string, string]>('UPDATE sessions SET revoked_at = ? WHERE user_id = ? AND socket_id = ? AND revoked_at IS NULL');
    this.liveOfUserOnSocket = db.prepare<[string, string], { id_hash: string }>('SELECT id_hash FROM sessions WHERE user_id = ? AND socket_id = ? AND revoked_at IS NULL');
    this.insertCode = db.prepare<[string, string, string, string, number]>(
      'INSERT INTO handoff_codes (code_hash, parent_hash, socket_id, return_path, expires_at) VALUES (?, ?, ?, ?, ?)',
    );
    this.takeCode = db.prepare<[string], { parent_hash: string; socket_id: string; return_path: string; expires_at: number }>(
      'SELECT * FROM handoff_codes WHERE code_hash = ?',
    );
    this.removeCode = db.prepare<[string]>('DELETE FROM handoff_codes WHERE code_hash = ?');
    this.sweepCodes = db.prepare<[number]>('DELETE FROM handoff_codes WHERE expires_at <= ?');
  }

  create(handle: string, input: { userId: string; socketId: string | null; parentHash: string | null; expiresAt: number }): SessionRecord {
    const record = { idHash: hashHandle(handle), ...input, createdAt: Date.now() };
    this.insert.run(record);
    return { ...record, lastSeenAt: record.createdAt, revokedAt: null };
  }

  find(idHash: string): SessionRecord | undefined {
    const row = this.byHash.get(idHash);
    return row && toSession(row);
  }

  touch(idHash: string, now: number): void {
    this.touchStmt.run(now, idHash);
  }

  /** Revokes one session and every socket session handed off from it; returns the revoked hashes. */
  revokeTree(idHash: string, now = Date.now()): string[] {
    return this.db.transaction(() => {
      const hashes = [idHash, ...this.liveChildren.all(idHash).map((r) => r.id_hash)];
      this.revokeOne.run(now, idHash);
      this.revokeChildren.run(now, idHash);
      return hashes;
    })();
  }

  /** Revokes every session of a user (sign out everywhere); returns their hashes. */
  revokeAllOfUser(userId: string, now = Date.now()): string[] {
    return this.db.transaction(() => {
      const hashes = this.liveOfUser.all(userId).map((r) => r.id_hash);
      this.revokeUser.run(now, userId);
      return hashes;
    })();
  }

  /** Revokes a user's sessions on one socket host (their hand-off consent was withdrawn); returns their hashes. */
  revokeAllOfUserOnSocket(userId: string, socketId: string, now = Date.now()): string[] {
    return this.db.transaction(() => {
      const hashes = this.liveOfUserOnSocket.all(userId, socketId).map((r) => r.id_hash);
      this.revokeUserOnSocket.run(now, userId, socketId);
      return hashes;
    })();
  }

  createCode(code: string, input: { parentHash: string; socketId: string; returnPath: string; expiresAt: number }): void {
    this.sweepCodes.run(Date.now());
    this.insertCode.run(hashHandle(code), input.parentHash, input.socketId, input.returnPath, input.expiresAt);
  }

  /** Single use: the code is deleted when read. Undefined if unknown, used or expired. */
  consumeCode(code: string): { parentHash: string; socketId: string; returnPath: string } | undefined {
    const codeHash = hashHandle(code);
    const row = this.takeCode.get(codeHash);
    if (!row) return undefined;
    this.removeCode.run(codeHash);
    if (row.expires_at <= Date.now()) return undefined;
    return { parentHash: row.parent_hash, socketId: row.socket_id, returnPath: row.return_path };
  }
}
