import { randomId } from './ids.js';
import type { SqlDriver } from './sql/driver.js';

/**
 * What a login's IdP granted: the IdP session id (`sid`, matched by back-channel logout) and the
 * sealed credential that lets the edge ask the IdP again (refresh token, or an API access token).
 * One per login session; the socket sessions handed off from it and the `postern login` tokens made
 * with it follow it.
 */
export interface IdpGrantRecord {
  readonly id: string;
  /** The login session (sessions.id_hash) this grant came with. */
  readonly loginHash: string;
  readonly userId: string;
  readonly provider: string;
  readonly sid: string | null;
  /** A JWE (auth/grant-seal.ts); null when the IdP gave nothing to re-validate with. */
  readonly sealed: string | null;
  readonly createdAt: number;
  /** The last time the IdP vouched for this sign-in. */
  readonly validatedAt: number;
  /** When to ask the IdP next; null: never (no credential). */
  readonly revalidateAt: number | null;
  /** Re-validations in a row that got no answer. */
  readonly failures: number;
}

type GrantRow = {
  id: string;
  login_hash: string;
  user_id: string;
  provider: string;
  sid: string | null;
  sealed: string | null;
  created_at: number;
  validated_at: number;
  revalidate_at: number | null;
  failures: number;
};

const toGrant = (r: GrantRow): IdpGrantRecord => ({
  id: r.id,
  loginHash: r.login_hash,
  userId: r.user_id,
  provider: r.provider,
  sid: r.sid,
  sealed: r.sealed,
  createdAt: r.created_at,
  validatedAt: r.validated_at,
  revalidateAt: r.revalidate_at,
  failures: r.failures,
});

/** A session the re-validation may have to close streams of: which socket it is for. */
export interface SocketSessionRef {
  readonly idHash: string;
  readonly socketId: string;
}

export class IdpGrantStore {
  constructor(private readonly db: SqlDriver) {}

  /** A fresh grant id (the seal binds the credential to it before the row exists). */
  static newId(): string {
    return `grt_${randomId(16)}`;
  }

  async create(
    input: { id: string; loginHash: string; userId: string; provider: string; sid: string | null; sealed: string | null; revalidateAt: number | null },
    now = Date.now(),
  ): Promise<IdpGrantRecord> {
    const row = await this.db.one<GrantRow>(
      `INSERT INTO idp_grants (id, login_hash, user_id, provider, sid, sealed, created_at, validated_at, revalidate_at)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *`,
      [input.id, input.loginHash, input.userId, input.provider, input.sid, input.sealed, now, now, input.revalidateAt],
    );
    return toGrant(row!);
  }

  async findById(id: string): Promise<IdpGrantRecord | undefined> {
    const row = await this.db.one<GrantRow>('SELECT * FROM idp_grants WHERE id = ?', [id]);
    return row && toGrant(row);
  }

  async findByLogin(loginHash: string): Promise<IdpGrantRecord | undefined> {
    const row = await this.db.one<GrantRow>('SELECT * FROM idp_grants WHERE login_hash = ?', [loginHash]);
    return row && toGrant(row);
  }

  /** Grants whose re-validation is due, oldest first. */
  async due(now: number, limit: number): Promise<IdpGrantRecord[]> {
    const rows = await this.db.query<GrantRow>('SELECT * FROM idp_grants WHERE revalidate_at IS NOT NULL AND revalidate_at <= ? ORDER BY revalidate_at LIMIT ?', [now, limit]);
    return rows.map(toGrant);
  }

  /**
   * Takes a due grant for one re-validation: moves its due time to `until` only if nobody else did
   * (another edge sharing the store, an earlier tick). A refresh token may be used once.
   */
  async claim(grant: IdpGrantRecord, until: number): Promise<boolean> {
    if (grant.revalidateAt === null) return false;
    return (await this.db.exec('UPDATE idp_grants SET revalidate_at = ? WHERE id = ? AND revalidate_at = ?', [until, grant.id, grant.revalidateAt])) === 1;
  }

  async validated(id: string, input: { sealed: string | null; sid: string | null; revalidateAt: number | null }, now = Date.now()): Promise<void> {
    await this.db.exec('UPDATE idp_grants SET sealed = ?, sid = ?, validated_at = ?, revalidate_at = ?, failures = 0 WHERE id = ?', [
      input.sealed,
      input.sid,
      now,
      input.revalidateAt,
      id,
    ]);
  }

  async failed(id: string, retryAt: number): Promise<void> {
    await this.db.exec('UPDATE idp_grants SET failures = failures + 1, revalidate_at = ? WHERE id = ?', [retryAt, id]);
  }

  /** Back-channel logout: the grants of one IdP session (`sid`), or of every session of a subject. */
  async matching(provider: string, match: { readonly sid?: string | undefined; readonly subject?: string | undefined }): Promise<IdpGrantRecord[]> {
    const rows =
      match.sid !== undefined
        ? await this.db.query<GrantRow>('SELECT * FROM idp_grants WHERE provider = ? AND sid = ?', [provider, match.sid])
        : match.subject !== undefined
          ? await this.db.query<GrantRow>('SELECT g.* FROM idp_grants g JOIN users u ON u.id = g.user_id WHERE g.provider = ? AND u.subject = ?', [provider, match.subject])
          : [];
    return rows.map(toGrant);
  }

  async remove(id: string): Promise<void> {
    await this.db.exec('DELETE FROM idp_grants WHERE id = ?', [id]);
  }

  /** Whether anything still rests on this grant: a live session of its login tree, or a live linked token. */
  async held(grant: IdpGrantRecord, now: number, idleMs: number): Promise<boolean> {
    const tree = await this.db.one<{ n: number }>(
      `SELECT COUNT(*) AS n FROM sessions WHERE (id_hash = ? OR parent_hash = ?) AND revoked_at IS NULL
         AND expires_at > ? AND last_seen_at > ?`,
      [grant.loginHash, grant.loginHash, now, now - idleMs],
    );
    return tree!.n > 0 || (await this.liveTokens(grant.id, now)).length > 0;
  }

  /** Live `postern login` tokens made with this grant. */
  async liveTokens(grantId: string, now = Date.now()): Promise<string[]> {
    const rows = await this.db.query<{ id: string }>(
      `SELECT a.id FROM idp_grant_tokens t JOIN api_tokens a ON a.id = t.token_id
       WHERE t.grant_id = ? AND a.revoked_at IS NULL AND (a.expires_at IS NULL OR a.expires_at > ?)`,
      [grantId, now],
    );
    return rows.map((r) => r.id);
  }

  /** A `postern login` approved by this grant's login: the token minted for it will follow the grant (expired links are pruned). */
  async linkDevice(deviceHash: string, grantId: string, expiresAt: number): Promise<void> {
    await this.db.exec(
      `INSERT INTO idp_grant_devices (device_hash, grant_id, expires_at) VALUES (?, ?, ?)
       ON CONFLICT (device_hash) DO UPDATE SET grant_id = excluded.grant_id, expires_at = excluded.expires_at`,
      [deviceHash, grantId, expiresAt],
    );
  }

  /** Links the token minted for an approved device code to the grant that approved it (once). */
  async linkTokenOfDevice(deviceHash: string, tokenId: string, now = Date.now()): Promise<void> {
    await this.db.transaction(async (tx) => {
      const link = await tx.one<{ grant_id: string; expires_at: number }>('DELETE FROM idp_grant_devices WHERE device_hash = ? RETURNING grant_id, expires_at', [deviceHash]);
      if (link && link.expires_at > now) {
        await tx.exec('INSERT INTO idp_grant_tokens (token_id, grant_id) VALUES (?, ?) ON CONFLICT DO NOTHING', [tokenId, link.grant_id]);
      }
    });
  }

  /** A user's live socket sessions: their streams are re-checked when the identity changes. */
  async liveSocketSessionsOfUser(userId: string, now: number, idleMs: number): Promise<SocketSessionRef[]> {
    const rows = await this.db.query<{ id_hash: string; socket_id: string }>(
      `SELECT id_hash, socket_id FROM sessions WHERE user_id = ? AND socket_id IS NOT NULL AND revoked_at IS NULL
         AND expires_at > ? AND last_seen_at > ?`,
      [userId, now, now - idleMs],
    );
    return rows.map((r) => ({ idHash: r.id_hash, socketId: r.socket_id }));
  }

  /** A user's live tokens (made by `postern login` as them): their TCP streams are re-checked too. */
  async liveTokensOfUser(userId: string, now: number): Promise<string[]> {
    const rows = await this.db.query<{ id: string }>('SELECT id FROM api_tokens WHERE user_id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)', [
      userId,
      now,
    ]);
    return rows.map((r) => r.id);
  }
}
