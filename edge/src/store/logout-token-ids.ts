import type { SqlDriver } from './sql/driver.js';

/**
 * The `jti` of every back-channel logout token accepted, per issuer, until the token would be too
 * old to accept anyway: a replayed logout token is refused (OIDC Back-Channel Logout 1.0 §2.6).
 */
export class LogoutTokenIdStore {
  constructor(private readonly db: SqlDriver) {}

  /**
   * Records a token id; false when it was seen before (a replay). One insert decides, so of two edges
   * given the same token at once exactly one accepts it.
   * Rows past `expiresAt` are deleted by the pruning job (pruner.ts).
   */
  async remember(issuer: string, jti: string, expiresAt: number): Promise<boolean> {
    const row = await this.db.one('INSERT INTO logout_token_ids (issuer, jti, expires_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING RETURNING jti', [issuer, jti, expiresAt]);
    return row !== undefined;
  }
}
