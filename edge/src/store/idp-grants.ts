import type { Db } from './db.js';
import { randomId } from './ids.js';

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

interface GrantRow {
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
}

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
  private readonly insert;
  private readonly byId;
  private readonly byLogin;
  private readonly dueStmt;
  private readonly claimStmt;
  private readonly validatedStmt;
  private readonly failedStmt;
  private readonly bySid;
  private readonly bySubject;
  private readonly removeStmt;
  private readonly liveTree;
  private readonly liveLinkedTokens;
  private readonly insertDevice;
  private readonly takeDeviceStmt;
  private readonly removeDevice;
  private readonly sweepDevices;
  private readonly insertToken;
  private readonly socketSessionsOfUser;
  private readonly tokensOfUser;

  constructor(private readonly db: Db) {
    this.insert = db.prepare(
      `INSERT INTO idp_grants (id, login_hash, user_id, provider, sid, sealed, created_at, validated_at, revalidate_at)
       VALUES (@id, @loginHash, @userId, @provider, @sid, @sealed, @now, @now, @revalidateAt)`,
    );
    this.byId = db.prepare<[string], GrantRow>('SELECT * FROM idp_grants WHERE id = ?');
    this.byLogin = db.prepare<[string], GrantRow>('SELECT * FROM idp_grants WHERE login_hash = ?');
    this.dueStmt = db.prepare<[number, number], GrantRow>(
      'SELECT * FROM idp_grants WHERE revalidate_at IS NOT NULL AND revalidate_at <= ? ORDER BY revalidate_at LIMIT ?',
    );
    this.claimStmt = db.prepare<[number, string, number]>('UPDATE idp_grants SET revalidate_at = ? WHERE id = ? AND revalidate_at = ?');
    this.validatedStmt = db.prepare<[string | null, string | null, number, number | null, string]>(
      'UPDATE idp_grants SET sealed = ?, sid = ?, validated_at = ?, revalidate_at = ?, failures = 0 WHERE id = ?',
    );
    this.failedStmt = db.prepare<[number, string]>('UPDATE idp_grants SET failures = failures + 1, revalidate_at = ? WHERE id = ?');
    this.bySid = db.prepare<[string, string], GrantRow>('SELECT * FROM idp_grants WHERE provider = ? AND sid = ?');
    this.bySubject = db.prepare<[string, string], GrantRow>(
      'SELECT g.* FROM idp_grants g JOIN users u ON u.id = g.user_id WHERE g.provider = ? AND u.subject = ?',
    );
    this.removeStmt = db.prepare<[string]>('DELETE FROM idp_grants WHERE id = ?');
    this.liveTree = db.prepare<[string, string, number, number], { n: number }>(
      `SELECT COUNT(*) AS n FROM sessions WHERE (id_hash = ? OR parent_hash = ?) AND revoked_at IS NULL
         AND expires_at > ? AND last_seen_at > ?`,
    );
    this.liveLinkedTokens = db.prepare<[string, number], { id: string }>(
      `SELECT a.id FROM idp_grant_tokens t JOIN api_tokens a ON a.id = t.token_id
       WHERE t.grant_id = ? AND a.revoked_at IS NULL AND (a.expires_at IS NULL OR a.expires_at > ?)`,
    );
    this.insertDevice = db.prepare<[string, string, number]>('INSERT OR REPLACE INTO idp_grant_devices (device_hash, grant_id, expires_at) VALUES (?, ?, ?)');
    this.takeDeviceStmt = db.prepare<[string, number], { grant_id: string }>('SELECT grant_id FROM idp_grant_devices WHERE device_hash = ? AND expires_at > ?');
    this.removeDevice = db.prepare<[string]>('DELETE FROM idp_grant_devices WHERE device_hash = ?');
    this.sweepDevices = db.prepare<[number]>('DELETE FROM idp_grant_devices WHERE expires_at <= ?');
    this.insertToken = db.prepare<[string, string]>('INSERT OR IGNORE INTO idp_grant_tokens (token_id, grant_id) VALUES (?, ?)');
    this.socketSessionsOfUser = db.prepare<[string, number, number], { id_hash: string; socket_id: string }>(
      `SELECT id_hash, socket_id FROM sessions WHERE user_id = ? AND socket_id IS NOT NULL AND revoked_at IS NULL
         AND expires_at > ? AND last_seen_at > ?`,
    );
    this.tokensOfUser = db.prepare<[string, number], { id: string }>(
      'SELECT id FROM api_tokens WHERE user_id = ? AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > ?)',
    );
  }

  /** A fresh grant id (the seal binds the credential to it before the row exists). */
  static newId(): string {
    return `grt_${randomId(16)}`;
  }

  create(input: { id: string; loginHash: string; userId: string; provider: string; sid: string | null; sealed: string | null; revalidateAt: number | null }, now = Date.now()): IdpGrantRecord {
    this.insert.run({ ...input, now });
    return this.findById(input.id)!;
  }

  findById(id: string): IdpGrantRecord | undefined {
    const row = this.byId.get(id);
    return row && toGrant(row);
  }

  findByLogin(loginHash: string): IdpGrantRecord | undefined {
    const row = this.byLogin.get(loginHash);
    return row && toGrant(row);
  }

  /** Grants whose re-validation is due, oldest first. */
  due(now: number, limit: number): IdpGrantRecord[] {
    return this.dueStmt.all(now, limit).map(toGrant);
  }

  /**
   * Takes a due grant for one re-validation: moves its due time to `until` only if nobody else did
   * (another edge sharing the store, an earlier tick). A refresh token may be used once.
   */
  claim(grant: IdpGrantRecord, until: number): boolean {
    return grant.revalidateAt !== null && this.claimStmt.run(until, grant.id, grant.revalidateAt).changes === 1;
  }

  validated(id: string, input: { sealed: string | null; sid: string | null; revalidateAt: number | null }, now = Date.now()): void {
    this.validatedStmt.run(input.sealed, input.sid, now, input.revalidateAt, id);
  }

  failed(id: string, retryAt: number): void {
    this.failedStmt.run(retryAt, id);
  }

  /** Back-channel logout: the grants of one IdP session (`sid`), or of every session of a subject. */
  matching(provider: string, match: { readonly sid?: string | undefined; readonly subject?: string | undefined }): IdpGrantRecord[] {
    const rows = match.sid !== undefined ? this.bySid.all(provider, match.sid) : match.subject !== undefined ? this.bySubject.all(provider, match.subject) : [];
    return rows.map(toGrant);
  }

  remove(id: string): void {
    this.removeStmt.run(id);
  }

  /** Whether anything still rests on this grant: a live session of its login tree, or a live linked token. */
  held(grant: IdpGrantRecord, now: number, idleMs: number): boolean {
    return this.liveTree.get(grant.loginHash, grant.loginHash, now, now - idleMs)!.n > 0 || this.liveTokens(grant.id, now).length > 0;
  }

  /** Live `postern login` tokens made with this grant. */
  liveTokens(grantId: string, now = Date.now()): string[] {
    return this.liveLinkedTokens.all(grantId, now).map((r) => r.id);
  }

  /** A `postern login` approved by this grant's login: the token minted for it will follow the grant. */
  linkDevice(deviceHash: string, grantId: string, expiresAt: number, now = Date.now()): void {
    this.db.transaction(() => {
      this.sweepDevices.run(now);
      this.insertDevice.run(deviceHash, grantId, expiresAt);
    })();
  }

  /** Links the token minted for an approved device code to the grant that approved it (once). */
  linkTokenOfDevice(deviceHash: string, tokenId: string, now = Date.now()): void {
    this.db.transaction(() => {
      const row = this.takeDeviceStmt.get(deviceHash, now);
      this.removeDevice.run(deviceHash);
      if (row) this.insertToken.run(tokenId, row.grant_id);
    })();
  }

  /** A user's live socket sessions: their streams are re-checked when the identity changes. */
  liveSocketSessionsOfUser(userId: string, now: number, idleMs: number): SocketSessionRef[] {
    return this.socketSessionsOfUser.all(userId, now, now - idleMs).map((r) => ({ idHash: r.id_hash, socketId: r.socket_id }));
  }

  /** A user's live tokens (made by `postern login` as them): their TCP streams are re-checked too. */
  liveTokensOfUser(userId: string, now: number): string[] {
    return this.tokensOfUser.all(userId, now).map((r) => r.id);
  }
}
