import type { Db } from './db.js';
import { randomId } from './ids.js';

/** Someone who holds API tokens. Publishers may also create sockets and tunnels. */
export interface Account {
  readonly id: string;
  readonly email: string;
  /** Created by the edge admin (`admin user add`); accounts made by a CLI sign-in only reach sockets. */
  readonly publisher: boolean;
  readonly createdAt: number;
}

interface AccountRow {
  id: string;
  email: string;
  publisher: number;
  created_at: number;
}

const toAccount = (row: AccountRow): Account => ({ id: row.id, email: row.email, publisher: row.publisher === 1, createdAt: row.created_at });

export class AccountStore {
  private readonly insert;
  private readonly byEmail;
  private readonly byId;
  private readonly promote;

  constructor(db: Db) {
    this.insert = db.prepare<[string, string, number, number]>('INSERT INTO accounts (id, email, publisher, created_at) VALUES (?, ?, ?, ?)');
    this.byEmail = db.prepare<[string], AccountRow>('SELECT * FROM accounts WHERE email = ?');
    this.byId = db.prepare<[string], AccountRow>('SELECT * FROM accounts WHERE id = ?');
    this.promote = db.prepare<[string]>('UPDATE accounts SET publisher = 1 WHERE id = ?');
  }

  /**
   * Returns the account with that email, creating it if needed. `publisher: true` also promotes an
   * existing member account (the admin vouches for it); `false` never demotes.
   */
  ensure(email: string, options: { publisher: boolean } = { publisher: true }): { account: Account; created: boolean } {
    const existing = this.findByEmail(email);
    if (existing) {
      if (!options.publisher || existing.publisher) return { account: existing, created: false };
      this.promote.run(existing.id);
      return { account: { ...existing, publisher: true }, created: false };
    }
    const account: Account = { id: randomId(8), email: email.toLowerCase(), publisher: options.publisher, createdAt: Date.now() };
    this.insert.run(account.id, account.email, account.publisher ? 1 : 0, account.createdAt);
    return { account, created: true };
  }

  findByEmail(email: string): Account | undefined {
    const row = this.byEmail.get(email);
    return row && toAccount(row);
  }

  findById(id: string): Account | undefined {
    const row = this.byId.get(id);
    return row && toAccount(row);
  }
}
