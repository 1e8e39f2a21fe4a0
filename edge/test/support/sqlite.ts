import type { Db } from '../../src/store/db.js';
import type { Store } from '../../src/store/index.js';
import { SqliteDriver } from '../../src/store/sql/sqlite-driver.js';

/** The SQLite connection under a test's store, for looking at rows and pragmas directly. */
export function sqliteOf(store: Store): Db {
  if (!(store.sql instanceof SqliteDriver)) throw new Error('this test needs a SQLite store');
  return store.sql.db;
}
