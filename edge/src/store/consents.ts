import type { Db } from './db.js';

/** A person's "yes, tell this app who I am", for a socket of another account (see auth/handoff-consent.ts). */
export interface HandoffConsent {
  readonly socketId: string;
  readonly createdAt: number;
}

/** Hand-off consents per user and socket: remembered until revoked in the portal or the socket is deleted. */
export class ConsentStore {
  private readonly insert;
  private readonly one;
  private readonly ofUser;
  private readonly remove;

  constructor(db: Db) {
    this.insert = db.prepare<[string, string, number]>('INSERT OR IGNORE INTO handoff_consents (user_id, socket_id, created_at) VALUES (?, ?, ?)');
    this.one = db.prepare<[string, string], { created_at: number }>('SELECT created_at FROM handoff_consents WHERE user_id = ? AND socket_id = ?');
    this.ofUser = db.prepare<[string], { socket_id: string; created_at: number }>(
      'SELECT socket_id, created_at FROM handoff_consents WHERE user_id = ? ORDER BY created_at',
    );
    this.remove = db.prepare<[string, string]>('DELETE FROM handoff_consents WHERE user_id = ? AND socket_id = ?');
  }

  grant(userId: string, socketId: string, now = Date.now()): void {
    this.insert.run(userId, socketId, now);
  }

  has(userId: string, socketId: string): boolean {
    return this.one.get(userId, socketId) !== undefined;
  }

  listByUser(userId: string): HandoffConsent[] {
    return this.ofUser.all(userId).map((r) => ({ socketId: r.socket_id, createdAt: r.created_at }));
  }

  /** False when there was nothing to revoke. */
  revoke(userId: string, socketId: string): boolean {
    return this.remove.run(userId, socketId).changes > 0;
  }
}
