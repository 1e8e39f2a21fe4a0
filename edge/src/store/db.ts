import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type Database from 'better-sqlite3';
import { ConfigError } from '../config.js';
import { SqlError } from './sql/driver.js';
import { SQLITE_MIGRATIONS } from './sql/sqlite-migrations.js';
import { SqliteDriver } from './sql/sqlite-driver.js';

/** The better-sqlite3 connection under the SqliteDriver, for the table modules not yet on `Store.sql`. */
export type Db = Database.Database;

/**
 * Opens (creating if needed) the edge's SQLite file and brings its schema up to date under the file's
 * write lock. better-sqlite3's own words name neither the file nor the flag; these errors do.
 */
export async function openSqliteStore(path: string): Promise<SqliteDriver> {
  const dir = dirname(resolve(path));
  if (!existsSync(dir)) throw new ConfigError(`cannot open the database ${path} (--db): the directory ${dir} does not exist; create it, or choose another --db`);
  let driver: SqliteDriver;
  try {
    driver = SqliteDriver.open(path);
  } catch (err) {
    if (!(err instanceof SqlError)) throw err; // opened, but not a database (say): not the file's place or the flag's fault
    const code = (err.cause as { code?: unknown } | undefined)?.code;
    const reason = code === 'SQLITE_CANTOPEN' ? 'the file cannot be created or opened there (permissions?)' : (err as Error).message;
    throw new ConfigError(`cannot open the database ${path} (--db): ${reason}`, { cause: err });
  }
  try {
    await driver.migrate(SQLITE_MIGRATIONS);
    return driver;
  } catch (err) {
    await driver.close();
    throw err;
  }
}
