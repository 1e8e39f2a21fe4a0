import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from './db.js';
import { randomId } from './ids.js';

/** Greppable prefix of every Postern API token (secret scanners can match `pst_`). */
export const TOKEN_PREFIX = 'pst_';

export interface ApiToken {
  readonly id: string;
  readonly accountId: string;
  /** The signed-in identity a CLI login was made from (its groups and orgs count in policies). */
  readonly userId: string | null;
  readonly name: string;
  /** The first characters of the secret, to recognise a token in a list. */
  readonly prefix: string;
  readonly createdAt: number;
  readonly expiresAt: number | null;
  readonly revokedAt: number | null;
  readonly lastUsedAt: number | null;
}

/** Why a presented token is not accepted, so the CLI can say what to do. */
export type TokenCheck =
  | { readonly ok: true; readonly token: ApiToken }
  | { readonly ok: false; readonly reason: 'unknown' | 'expired' | 'revoked'; readonly token?: ApiToken };

interface TokenRow {
  id: string;
  account_id: string;
  user_id: string | null;
  prefix: string;
  hash: string;
  name: string;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  last_used_at: number | null;
}

const toToken = (row: TokenRow): ApiToken => ({
  id: row.id,
  accountId: row.account_id,
  userId: row.user_id,
  name: row.name,
  prefix: row.prefix,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  revokedAt: row.revoked_at,
  lastUsedAt: row.last_used_at,
});

/**
 * Tokens carry 256 random bits, so a fast hash (SHA-256) is the right storage: there is nothing to
 * brute-force, and a slow KDF would only cost every tunnel handshake.
 */
function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** `last_used_at` is written at most this often per token (it is shown in `token ls`, not audited). */
const TOUCH_EVERY_MS = 60_000;

export class TokenStore {
  private readonly insert;
  private readonly byHash;
  private readonly byId;
  private readonly byAccount;
  private readonly revokeStmt;
  private readonly touchStmt;

  constructor(db: Db) {
    this.insert = db.prepare(
      `INSERT INTO api_tokens (id, account_id, user_id, prefix, hash, name, created_at, expires_at)
       VALUES (@id, @account_id, @user_id, @prefix, @hash, @name, @created_at, @expires_at)`,
    );
    this.byHash = db.prepare<[string], TokenRow>('SELECT * FROM api_tokens WHERE hash = ?');
    this.byId = db.prepare<[string], TokenRow>('SELECT * FROM api_tokens WHERE id = ?');
    this.byAccount = db.prepare<[string], TokenRow>('SELECT * FROM api_tokens WHERE account_id = ? ORDER BY created_at');
    this.revokeStmt = db.prepare<[number, string]>('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL');
    this.touchStmt = db.prepare<[number, string]>('UPDATE api_tokens SET last_used_at = ? WHERE id = ?');
  }

  /** Creates a token; the secret is returned once and only its hash is kept. */
  create(
    accountId: string,
    name = '',
    expiresAt: number | null = null,
    userId: string | null = null,
  ): { token: string; record: ApiToken } {
    const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
    const record: ApiToken = {
      id: `tok_${randomId(10)}`,
      accountId,
      userId,
      name,
      prefix: token.slice(0, 8),
      createdAt: Date.now(),
      expiresAt,
      revokedAt: null,
      lastUsedAt: null,
    };
    this.insert.run({
      id: record.id,
      account_id: accountId,
      user_id: userId,
      prefix: record.prefix,
      hash: hashToken(token),
      name,
      created_at: record.createdAt,
      expires_at: expiresAt,
    });
    return { token, record };
  }

  /** Checks a presented secret and says why it fails. */
  check(token: string, now = Date.now()): TokenCheck {
    if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return { ok: false, reason: 'unknown' };
    const hash = hashToken(token);
    const row = this.byHash.get(hash);
    // The lookup is by hash already; compare again in constant time for defence in depth.
    if (!row || !timingSafeEqual(Buffer.from(row.hash), Buffer.from(hash))) return { ok: false, reason: 'unknown' };
    const record = toToken(row);
    if (row.revoked_at !== null) return { ok: false, reason: 'revoked', token: record };
    if (row.expires_at !== null && row.expires_at <= now) return { ok: false, reason: 'expired', token: record };
    if (row.last_used_at === null || now - row.last_used_at > TOUCH_EVERY_MS) this.touchStmt.run(now, row.id);
    return { ok: true, token: record };
  }

  /** Returns the live token record for a presented secret, or undefined. */
  verify(token: string, now = Date.now()): ApiToken | undefined {
    const result = this.check(token, now);
    return result.ok ? result.token : undefined;
  }

  findById(id: string): ApiToken | undefined {
    const row = this.byId.get(id);
    return row && toToken(row);
  }

  /** Whether a token (by id) is still usable, and why not: the sweeps that close tunnels and streams ask this. */
  checkById(id: string, now = Date.now()): TokenCheck {
    const token = this.findById(id);
    if (!token) return { ok: false, reason: 'unknown' };
    if (token.revokedAt !== null) return { ok: false, reason: 'revoked', token };
    if (token.expiresAt !== null && token.expiresAt <= now) return { ok: false, reason: 'expired', token };
    return { ok: true, token };
  }

  findLive(id: string, now = Date.now()): boolean {
    return this.checkById(id, now).ok;
  }

  listByAccount(accountId: string): ApiToken[] {
    return this.byAccount.all(accountId).map(toToken);
  }

  /** Revokes a token; false if it was already revoked or does not exist. */
  revoke(id: string, now = Date.now()): boolean {
    return this.revokeStmt.run(now, id).changes > 0;
  }
}
