import type { Db } from './db.js';
import { randomId } from './ids.js';

export interface Account {
  readonly id: string;
  readonly email: string;
  readonly createdAt: number;
}

interface AccountRow {
  id: string;
  email: string;
  created_at: number;
}

const toAccount = (row: AccountRow): Account => ({ id: row.id, email: row.email, createdAt: row.created_at });

export class AccountStore {
  private readonly insert;
  private readonly byEmail;
  private readonly byId;

  constructor(db: Db) {
    this.insert = db.prepare<[string, string, number]>('INSERT INTO accounts (id, email, created_at) VALUES (?, ?, ?)');
    this.byEmail = db.prepare<[string], AccountRow>('SELECT * FROM accounts WHERE email = ?');
    this.byId = db.prepare<[string], AccountRow>('SELECT * FROM accounts WHERE id = ?');
  }

  /** Creates the account, or returns the existing one with that email. */
  ensure(email: string): { account: Account; created: boolean } {
    const existing = this.findByEmail(email);
    if (existing) return { account: existing, created: false };
    const account: Account = { id: randomId(8), email: email.toLowerCase(), createdAt: Date.now() };
    this.insert.run(account.id, account.email, account.createdAt);
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
