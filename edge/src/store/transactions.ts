import type { TransactionSecrets } from '../auth/providers/types.js';
import { hashHandle } from './secrets.js';
import type { SqlDriver } from './sql/driver.js';

export interface LoginTransaction {
  readonly provider: string;
  readonly secrets: TransactionSecrets;
  /** Where to go after sign-in (already validated as one of our own names). */
  readonly returnTo: string;
}

type TransactionRow = {
  provider: string;
  code_verifier: string | null;
  nonce: string | null;
  return_to: string;
  expires_at: number;
};

/** Sign-in transactions: single-use (deleted when read), expiring in minutes (the pruning job deletes the unused). */
export class TransactionStore {
  constructor(private readonly db: SqlDriver) {}

  async create(id: string, tx: LoginTransaction, ttlMs: number): Promise<void> {
    await this.db.exec('INSERT INTO login_transactions (id_hash, provider, code_verifier, nonce, return_to, expires_at) VALUES (?, ?, ?, ?, ?, ?)', [
      hashHandle(id),
      tx.provider,
      tx.secrets.codeVerifier ?? null,
      tx.secrets.nonce ?? null,
      tx.returnTo,
      Date.now() + ttlMs,
    ]);
  }

  /** Returns and deletes the transaction in one statement (of two callbacks at once, one gets it); undefined if unknown, used or expired. */
  async consume(id: string): Promise<LoginTransaction | undefined> {
    const row = await this.db.one<TransactionRow>('DELETE FROM login_transactions WHERE id_hash = ? RETURNING *', [hashHandle(id)]);
    if (!row || row.expires_at <= Date.now()) return undefined;
    const secrets: { codeVerifier?: string; nonce?: string } = {};
    if (row.code_verifier) secrets.codeVerifier = row.code_verifier;
    if (row.nonce) secrets.nonce = row.nonce;
    return { provider: row.provider, secrets, returnTo: row.return_to };
  }
}
