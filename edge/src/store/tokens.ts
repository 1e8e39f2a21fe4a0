import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { Db } from './db.js';
import { randomId } from './ids.js';

/** Greppable prefix of every Postern API token (secret scanners can match `pst_`). */
export const TOKEN_PREFIX = 'pst_';

export interface ApiToken {
  readonly id: string;
  readonly accountId: string;
  readonly name: string;
  readonly createdAt: number;
  readonly expiresAt: number | null;
}

interface TokenRow {
  id: string;
  account_id: string;
  hash: string;
  name: string;
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
}

/**
 * Tokens carry 256 random bits, so a fast hash (SHA-256) is the right storage: there is nothing to
 * brute-force, and a slow KDF would only cost every tunnel handshake.
 */
function hashToken(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export class TokenStore {
  private readonly insert;
  private readonly byHash;

  constructor(db: Db) {
    this.insert = db.prepare<[string, string, string, string, string, number, number | null]>(
      'INSERT INTO api_tokens (id, account_id, prefix, hash, name, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
    );
    this.byHash = db.prepare<[string], TokenRow>('SELECT * FROM api_tokens WHERE hash = ?');
  }

  /** Creates a token; the secret is returned once and only its hash is kept. */
  create(accountId: string, name = '', expiresAt: number | null = null): { token: string; record: ApiToken } {
    const id = randomId(10);
    const token = `${TOKEN_PREFIX}${randomBytes(32).toString('base64url')}`;
    const createdAt = Date.now();
    this.insert.run(id, accountId, token.slice(0, 8), hashToken(token), name, createdAt, expiresAt);
    return { token, record: { id, accountId, name, createdAt, expiresAt } };
  }

  /** Returns the live token record for a presented secret, or undefined. */
  verify(token: string, now = Date.now()): ApiToken | undefined {
    if (!token.startsWith(TOKEN_PREFIX) || token.length > 200) return undefined;
    const hash = hashToken(token);
    const row = this.byHash.get(hash);
    if (!row) return undefined;
    // The lookup is by hash already; compare again in constant time for defence in depth.
    if (!timingSafeEqual(Buffer.from(row.hash), Buffer.from(hash))) return undefined;
    if (row.revoked_at !== null) return undefined;
    if (row.expires_at !== null && row.expires_at <= now) return undefined;
    return { id: row.id, accountId: row.account_id, name: row.name, createdAt: row.created_at, expiresAt: row.expires_at };
  }
}
