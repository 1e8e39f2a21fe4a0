import type { SqlDriver } from './sql/driver.js';

/** Local-account password hashes (scrypt strings made by auth/providers/local.ts). */
export class PasswordStore {
  constructor(private readonly db: SqlDriver) {}

  async set(accountId: string, hash: string): Promise<void> {
    await this.db.exec(
      `INSERT INTO local_passwords (account_id, hash, updated_at) VALUES (?, ?, ?)
       ON CONFLICT (account_id) DO UPDATE SET hash = excluded.hash, updated_at = excluded.updated_at`,
      [accountId, hash, Date.now()],
    );
  }

  async get(accountId: string): Promise<string | undefined> {
    return (await this.db.one<{ hash: string }>('SELECT hash FROM local_passwords WHERE account_id = ?', [accountId]))?.hash;
  }
}
