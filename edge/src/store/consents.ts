import type { SqlDriver } from './sql/driver.js';

/** A person's "yes, tell this app who I am", for a socket of another account (see auth/handoff-consent.ts). */
export interface HandoffConsent {
  readonly socketId: string;
  readonly createdAt: number;
}

/** Hand-off consents per user and socket: remembered until revoked in the portal or the socket is deleted. */
export class ConsentStore {
  constructor(private readonly db: SqlDriver) {}

  /** False when the consent was there already. */
  async grant(userId: string, socketId: string, now = Date.now()): Promise<boolean> {
    return (await this.db.exec('INSERT INTO handoff_consents (user_id, socket_id, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING', [userId, socketId, now])) === 1;
  }

  async has(userId: string, socketId: string): Promise<boolean> {
    return (await this.db.one('SELECT created_at FROM handoff_consents WHERE user_id = ? AND socket_id = ?', [userId, socketId])) !== undefined;
  }

  async listByUser(userId: string): Promise<HandoffConsent[]> {
    const rows = await this.db.query<{ socket_id: string; created_at: number }>('SELECT socket_id, created_at FROM handoff_consents WHERE user_id = ? ORDER BY created_at', [userId]);
    return rows.map((r) => ({ socketId: r.socket_id, createdAt: r.created_at }));
  }

  /** False when there was nothing to revoke. */
  async revoke(userId: string, socketId: string): Promise<boolean> {
    return (await this.db.exec('DELETE FROM handoff_consents WHERE user_id = ? AND socket_id = ?', [userId, socketId])) > 0;
  }
}
