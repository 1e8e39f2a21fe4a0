// The public face of the SQL layer (`@postern/edge/sql`): the table modules of phase 2, the admin tools and the tests use it.
export { SqlError, type Backend, type LockName, type Queryable, type SqlDriver, type SqlErrorKind, type SqlParams, type SqlRow, type SqlValue, type Transaction } from './driver.js';
export { SqliteDriver } from './sqlite-driver.js';
export { PostgresDriver, advisoryKey, type PostgresOptions } from './postgres-driver.js';
export { POSTGRES_MIGRATIONS } from './postgres-migrations.js';
export { SQLITE_MIGRATIONS } from './sqlite-migrations.js';
export { openSql, migrationsFor, isPostgresUrl, describeStore } from './open.js';
export { numberPlaceholders } from './placeholders.js';
