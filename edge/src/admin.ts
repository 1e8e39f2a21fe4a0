import { hashPassword, passwordPolicyError } from './auth/providers/local.js';
import { Store } from './store/index.js';

export class AdminError extends Error {
  override readonly name = 'AdminError';
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$|^[^\s@]+@localhost$/;

/** Work done on the edge host directly against its database (`postern admin ...`). */
export async function withStore<T>(dbPath: string, work: (store: Store) => T | Promise<T>): Promise<T> {
  const store = await Store.open(dbPath);
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

export function addUser(store: Store, email: string): { id: string; email: string; created: boolean } {
  if (!EMAIL.test(email) || email.length > 254) throw new AdminError(`"${email}" is not an email address`);
  const { account, created } = store.accounts.ensure(email);
  return { id: account.id, email: account.email, created };
}

/** Sets (or replaces) the local-account password of an account. */
export async function setPassword(store: Store, email: string, password: string): Promise<void> {
  const account = store.accounts.findByEmail(email);
  if (!account) throw new AdminError(`no account for ${email}`);
  const problem = passwordPolicyError(password);
  if (problem) throw new AdminError(problem);
  store.passwords.set(account.id, await hashPassword(password));
}

export async function createToken(store: Store, email: string, name = 'cli'): Promise<{ token: string; id: string }> {
  const account = store.accounts.findByEmail(email);
  if (!account) throw new AdminError(`no account for ${email}: create it with "postern admin user add ${email}"`);
  const { token, record } = await store.tokens.create(account.id, name);
  return { token, id: record.id };
}
