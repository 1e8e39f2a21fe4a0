import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { ChangeFeed } from '../cluster/change-feed.js';
import type { SqlDriver } from './sql/driver.js';
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

type TokenRow = {
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
};

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
  constructor(
    private readonly db: SqlDriver,
    private readonly changes: ChangeFeed,
  ) {}

  /** Creates a token; the secret is returned once and only its hash is kept. */
  async create(
    accountId: string,
    name = '',
    expiresAt: number | null = null,
    userId: string | null = null,
  ): Promise<{ token: string; record: ApiToken }> {
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
    await this.db.exec(
      `INSERT INTO api_tokens (id, account_id, user_id, prefix, hash, name, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
      [record.id, accountId, userId, record.prefix, hashToken(token), name, record.createdAt, expiresAt],
    );
    return { token, record };
  }

  /** Checks a presented secret and says why it fails (the request path asks through TokenCache). */
  async check(token: string, now = Date.now()): Promise<TokenCheck> {
    if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return { ok: false, reason: 'unknown' };
    const hash = hashToken(token);
    const row = await this.db.one<TokenRow>('SELECT * FROM api_tokens WHERE hash = ?', [hash]);
    // The lookup is by hash already; compare again in constant time for defence in depth.
    if (!row || !timingSafeEqual(Buffer.from(row.hash), Buffer.from(hash))) return { ok: false, reason: 'unknown' };
    const result = checkRecord(toToken(row), now);
    if (result.ok && (row.last_used_at === null || now - row.last_used_at > TOUCH_EVERY_MS)) {
      await this.db.exec('UPDATE api_tokens SET last_used_at = ? WHERE id = ?', [now, row.id]);
    }
    return result;
  }

  async findById(id: string): Promise<ApiToken | undefined> {
    const row = await this.db.one<TokenRow>('SELECT * FROM api_tokens WHERE id = ?', [id]);
    return row && toToken(row);
  }

  /** Whether a token (by id) is still usable, and why not: the sweeps that close tunnels and streams ask this. */
  async checkById(id: string, now = Date.now()): Promise<TokenCheck> {
    const token = await this.findById(id);
    return token ? checkRecord(token, now) : { ok: false, reason: 'unknown' };
  }

  async findLive(id: string, now = Date.now()): Promise<boolean> {
    return (await this.checkById(id, now)).ok;
  }

  async listByAccount(accountId: string): Promise<ApiToken[]> {
    return (await this.db.query<TokenRow>('SELECT * FROM api_tokens WHERE account_id = ? ORDER BY created_at', [accountId])).map(toToken);
  }

  /** Revokes a token, and tells every edge (its tunnels and streams close); false if it was already revoked or does not exist. */
  revoke(id: string, now = Date.now()): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      if ((await tx.exec('UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL', [now, id])) === 0) return false;
      await this.changes.publish(tx, { topic: 'token', key: id });
      return true;
    });
  }
}

/** Whether a token record is usable at `now`, and why not. */
export function checkRecord(token: ApiToken, now: number): TokenCheck {
  if (token.revokedAt !== null) return { ok: false, reason: 'revoked', token };
  if (token.expiresAt !== null && token.expiresAt <= now) return { ok: false, reason: 'expired', token };
  return { ok: true, token };
}
