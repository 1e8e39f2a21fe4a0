import type { Store } from './index.js';
import { toUser, type User, type UserRow } from './users.js';

/**
 * INTERIM (issue 13 phase 2, until the request path awaits the store): synchronous reads of a user
 * and an account for the synchronous request-path code the other store conversion owns (session
 * resolve, the token holder check, policy compilation). SQLite only, through `store.db`, like the
 * tables that code reads beside them. Delete this file once those callers await
 * `store.users.findById` / `store.accounts.findById`.
 */
export function userNow(store: Store, id: string): User | undefined {
  const row = store.db.prepare<[string], UserRow>('SELECT * FROM users WHERE id = ?').get(id);
  return row && toUser(row);
}

export function accountNow(store: Store, id: string): { id: string; email: string } | undefined {
  return store.db.prepare<[string], { id: string; email: string }>('SELECT id, email FROM accounts WHERE id = ?').get(id);
}
