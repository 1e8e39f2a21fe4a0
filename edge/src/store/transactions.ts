import type { TransactionSecrets } from '../auth/providers/types.js';
import type { Db } from './db.js';
import { hashHandle } from './secrets.js';

export interface LoginTransaction {
  readonly provider: string;
  readonly secrets: TransactionSecrets;
  /** Where to go after sign-in (already validated as one of our own names). */
  readonly returnTo: string;
}

/** Sign-in transactions: single-use (deleted when read), expiring in minutes. */
export class TransactionStore {
  private readonly insert;
  private readonly take;
  private readonly remove;
  private readonly sweep;

  constructor(db: Db) {
    this.insert = db.prepare<[string, string, string | null, string | null, string, number]>(
      'INSERT INTO login_transactions (id_hash, provider, code_verifier, nonce, return_to, expires_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.take = db.prepare<[string], { provider: string; code_verifier: string | null; nonce: string | null; return_to: string; expires_at: number }>(
      'SELECT * FROM login_transactions WHERE id_hash = ?',
    );
    this.remove = db.prepare<[string]>('DELETE FROM login_transactions WHERE id_hash = ?');
    this.sweep = db.prepare<[number]>('DELETE FROM login_transactions WHERE expires_at <= ?');
  }

  create(id: string, tx: LoginTransaction, ttlMs: number): void {
    this.sweep.run(Date.now());
    this.insert.run(hashHandle(id), tx.provider, tx.secrets.codeVerifier ?? null, tx.secrets.nonce ?? null, tx.returnTo, Date.now() + ttlMs);
  }

  /** Returns and deletes the transaction; undefined if unknown, used or expired. */
  consume(id: string): LoginTransaction | undefined {
    const idHash = hashHandle(id);
    const row = this.take.get(idHash);
    if (!row) return undefined;
    this.remove.run(idHash);
    if (row.expires_at <= Date.now()) return undefined;
    const secrets: { codeVerifier?: string; nonce?: string } = {};
    if (row.code_verifier) secrets.codeVerifier = row.code_verifier;
    if (row.nonce) secrets.nonce = row.nonce;
    return { provider: row.provider, secrets, returnTo: row.return_to };
  }
}
