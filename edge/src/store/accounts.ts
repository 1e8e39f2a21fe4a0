import { randomId } from './ids.js';
import type { SqlDriver } from './sql/driver.js';

/** Someone who holds API tokens. Publishers may also create sockets and tunnels. */
export interface Account {
  readonly id: string;
  readonly email: string;
  /** Created by the edge admin (`admin user add`); accounts made by a CLI sign-in only reach sockets. */
  readonly publisher: boolean;
  readonly createdAt: number;
}

type AccountRow = {
  id: string;
  email: string;
  publisher: number;
  created_at: number;
};

const toAccount = (row: AccountRow): Account => ({ id: row.id, email: row.email, publisher: row.publisher === 1, createdAt: row.created_at });

/** Emails are stored and looked up lower-cased: PostgreSQL has no NOCASE (its unique index is on lower(email)). */
const emailKey = (email: string): string => email.toLowerCase();

export class AccountStore {
  constructor(private readonly db: SqlDriver) {}

  /**
   * Returns the account with that email, creating it if needed (two edges ensuring one email at once
   * make one row and both get it). `publisher: true` also promotes an existing member account (the
   * admin vouches for it); `false` never demotes.
   */
  async ensure(email: string, options: { publisher: boolean } = { publisher: true }): Promise<{ account: Account; created: boolean }> {
    const candidate = { id: randomId(8), email: emailKey(email), publisher: options.publisher ? 1 : 0, created_at: Date.now() };
    const made = await this.db.one<AccountRow>('INSERT INTO accounts (id, email, publisher, created_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING *', [
      candidate.id,
      candidate.email,
      candidate.publisher,
      candidate.created_at,
    ]);
    if (made) return { account: toAccount(made), created: true };
    if (options.publisher) {
      const promoted = await this.db.one<AccountRow>('UPDATE accounts SET publisher = 1 WHERE email = ? AND publisher = 0 RETURNING *', [candidate.email]);
      if (promoted) return { account: toAccount(promoted), created: false };
    }
    const existing = await this.findByEmail(candidate.email);
    if (!existing) throw new Error(`account ${candidate.email} neither created nor found`);
    return { account: existing, created: false };
  }

  async findByEmail(email: string): Promise<Account | undefined> {
    const row = await this.db.one<AccountRow>('SELECT * FROM accounts WHERE email = ?', [emailKey(email)]);
    return row && toAccount(row);
  }

  async findById(id: string): Promise<Account | undefined> {
    const row = await this.db.one<AccountRow>('SELECT * FROM accounts WHERE id = ?', [id]);
    return row && toAccount(row);
  }
}
