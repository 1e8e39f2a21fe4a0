import type { Db } from './db.js';

/**
 * The `jti` of every back-channel logout token accepted, per issuer, until the token would be too
 * old to accept anyway: a replayed logout token is refused (OIDC Back-Channel Logout 1.0 §2.6).
 */
export class LogoutTokenIdStore {
  private readonly insert;
  private readonly sweep;

  constructor(private readonly db: Db) {
    this.insert = db.prepare<[string, string, number]>('INSERT OR IGNORE INTO logout_token_ids (issuer, jti, expires_at) VALUES (?, ?, ?)');
    this.sweep = db.prepare<[number]>('DELETE FROM logout_token_ids WHERE expires_at <= ?');
  }

  /** Records a token id; false when it was seen before (a replay). */
  remember(issuer: string, jti: string, expiresAt: number, now = Date.now()): boolean {
    return this.db.transaction(() => {
      this.sweep.run(now);
      return this.insert.run(issuer, jti, expiresAt).changes === 1;
    })();
  }
}
