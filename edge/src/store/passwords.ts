import type { Db } from './db.js';

/** Local-account password hashes (scrypt strings made by auth/providers/local.ts). */
export class PasswordStore {
  private readonly setStmt;
  private readonly getStmt;

  constructor(db: Db) {
    this.setStmt = db.prepare<[string, string, number]>(
      `INSERT INTO local_passwords (account_id, hash, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (account_id) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at`,
    );
    this.getStmt = db.prepare<[string], { hash: string }>('SELECT hash FROM local_passwords WHERE account_id = ?');
  }

  set(accountId: string, hash: string): void {
    this.setStmt.run(accountId, hash, Date.now());
  }

  get(accountId: string): string | undefined {
    return this.getStmt.get(accountId)?.hash;
  }
}
