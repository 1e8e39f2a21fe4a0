import { SQLITE_MIGRATIONS } from './sqlite-migrations.js';
import type { SqlDriver } from './driver.js';
import type { PostgresOptions } from './postgres-driver.js';
import { POSTGRES_MIGRATIONS } from './postgres-migrations.js';
import { SqliteDriver } from './sqlite-driver.js';
import { isPostgresUrl } from './target.js';

export { isPostgresUrl } from './target.js';

/** The target without its password, for messages and logs. */
export function describeStore(target: string): string {
  if (!isPostgresUrl(target)) return target;
  try {
    const url = new URL(target);
    url.password = '';
    url.search = '';
    return url.toString();
  } catch {
    return 'postgres://(unparseable URL)';
  }
}

export const migrationsFor = (driver: SqlDriver): readonly string[] => (driver.backend === 'postgres' ? POSTGRES_MIGRATIONS : SQLITE_MIGRATIONS);

/**
 * Opens a store's database and brings its schema up to date under the backend's lock. pg is loaded
 * only for a PostgreSQL URL: an edge on SQLite never loads it.
 */
export async function openSql(target: string, options: { mustExist?: boolean; postgres?: PostgresOptions } = {}): Promise<SqlDriver> {
  const driver = isPostgresUrl(target)
    ? new (await import('./postgres-driver.js')).PostgresDriver(target, options.postgres)
    : SqliteDriver.open(target, { mustExist: options.mustExist ?? false });
  try {
    await driver.migrate(migrationsFor(driver));
    return driver;
  } catch (err) {
    await driver.close();
    throw err;
  }
}
