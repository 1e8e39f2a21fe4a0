import { hashPassword, passwordPolicyError } from './auth/providers/local.js';
import { Store } from './store/index.js';
import { SqlError } from './store/sql/driver.js';
import { describeStore } from './store/sql/open.js';

export class AdminError extends Error {
  override readonly name = 'AdminError';
}

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$|^[^\s@]+@localhost$/;

/** Work done on the edge host directly against its store (`postern admin ...`): a SQLite file or a PostgreSQL URL. */
export async function withStore<T>(target: string, work: (store: Store) => T | Promise<T>): Promise<T> {
  let store: Store;
  try {
    store = await Store.open(target);
  } catch (err) {
    if (!(err instanceof SqlError && err.kind === 'unavailable')) throw err;
    // One line that names the store that is not there (never with its password).
    throw new AdminError(`cannot open the store ${describeStore(target)}: ${(err as Error).message}`, { cause: err });
  }
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}

export async function addUser(store: Store, email: string): Promise<{ id: string; email: string; created: boolean }> {
  if (!EMAIL.test(email) || email.length > 254) throw new AdminError(`"${email}" is not an email address`);
  const { account, created } = await store.accounts.ensure(email);
  return { id: account.id, email: account.email, created };
}

/** Sets (or replaces) the local-account password of an account. */
export async function setPassword(store: Store, email: string, password: string): Promise<void> {
  const account = await store.accounts.findByEmail(email);
  if (!account) throw new AdminError(`no account for ${email}`);
  const problem = passwordPolicyError(password);
  if (problem) throw new AdminError(problem);
  await store.passwords.set(account.id, await hashPassword(password));
}

export async function createToken(store: Store, email: string, name = 'cli'): Promise<{ token: string; id: string }> {
  const account = await store.accounts.findByEmail(email);
  if (!account) throw new AdminError(`no account for ${email}: create it with "postern admin user add ${email}"`);
  const { token, record } = await store.tokens.create(account.id, name);
  return { token, id: record.id };
}
