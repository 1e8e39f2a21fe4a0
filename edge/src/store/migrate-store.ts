import { existsSync } from 'node:fs';
import { AdminError } from '../admin.js';
import type { Queryable, SqlDriver, SqlValue } from './sql/driver.js';
import { SqlError } from './sql/driver.js';
import { describeStore, isPostgresUrl, openSql } from './sql/open.js';

export interface MigrateStoreResult {
  readonly from: string;
  /** The target URL without its password. */
  readonly to: string;
  /** Rows copied per table, in the order they were copied (parents before children). */
  readonly tables: ReadonlyArray<{ readonly table: string; readonly rows: number }>;
}

/** Rows per INSERT: 500 × the widest table's 15 columns stays far below PostgreSQL's 65535 parameters. */
const BATCH_ROWS = 500;

/**
 * `postern admin migrate-store`: copies every table of an edge's SQLite database, sessions and
 * signing keys included, into an empty PostgreSQL database, in one PostgreSQL transaction (all or
 * nothing) read from one SQLite transaction (a consistent snapshot; it holds the file's write lock,
 * so stop the edge first). The tables and columns come from the SQLite file itself, so a table a
 * later migration adds is copied without changes here, provided the PostgreSQL schema has it too.
 */
export async function migrateStore(fromPath: string, toUrl: string): Promise<MigrateStoreResult> {
  if (isPostgresUrl(fromPath)) throw new AdminError(`--from is the edge's SQLite file, not a URL (got ${describeStore(fromPath)})`);
  if (!isPostgresUrl(toUrl)) throw new AdminError(`--to must be a postgres:// URL (got "${toUrl}")`);
  if (!existsSync(fromPath)) throw new AdminError(`no SQLite database at ${fromPath}`);
  const to = describeStore(toUrl);
  const source = await open(fromPath, fromPath);
  try {
    const target = await open(toUrl, to);
    try {
      const tables = await tablesInDependencyOrder(source);
      const copied = await source.transaction((snapshot) => target.transaction((tx) => copyAll(snapshot, tx, tables, to)));
      return { from: fromPath, to, tables: copied };
    } finally {
      await target.close();
    }
  } finally {
    await source.close();
  }
}

async function open(target: string, shown: string): Promise<SqlDriver> {
  try {
    return await openSql(target, { mustExist: true });
  } catch (err) {
    if (err instanceof SqlError) throw new AdminError(`cannot open ${shown}: ${err.message}`, { cause: err });
    throw err;
  }
}

async function copyAll(source: Queryable, target: Queryable, tables: readonly string[], to: string): Promise<Array<{ table: string; rows: number }>> {
  const held: string[] = [];
  for (const table of tables) {
    const row = await target.one<{ n: number }>(`SELECT COUNT(*) AS n FROM ${table}`).catch((err: unknown) => {
      throw new AdminError(`${to} has no table ${table}: this Postern's PostgreSQL schema lags its SQLite schema`, { cause: err });
    });
    if (row!.n > 0) held.push(`${table}: ${row!.n}`);
  }
  if (held.length > 0) {
    throw new AdminError(`${to} already holds Postern data (${held.join(', ')}); migrate-store copies only into an empty database`);
  }
  const copied: Array<{ table: string; rows: number }> = [];
  for (const table of tables) copied.push({ table, rows: await copyTable(source, target, table) });
  await resetIdentities(target, tables);
  return copied;
}

async function copyTable(source: Queryable, target: Queryable, table: string): Promise<number> {
  const columns = (await source.query<{ name: string }>('SELECT name FROM pragma_table_info(?) ORDER BY cid', [table])).map((c) => c.name);
  const list = columns.map((c) => `"${c}"`).join(', ');
  const tuple = `(${columns.map(() => '?').join(', ')})`;
  let copied = 0;
  let after = Number.MIN_SAFE_INTEGER;
  for (;;) {
    // Keyset paging on rowid: bounded memory whatever the table's size.
    const rows = await source.query(`SELECT rowid AS postern_rowid, ${list} FROM ${table} WHERE rowid > ? ORDER BY rowid LIMIT ?`, [after, BATCH_ROWS]);
    if (rows.length === 0) return copied;
    const params = rows.flatMap((row) => columns.map((c) => row[c] as SqlValue));
    await target.exec(`INSERT INTO ${table} (${list}) VALUES ${rows.map(() => tuple).join(', ')}`, params);
    copied += rows.length;
    after = rows[rows.length - 1]!.postern_rowid as number;
  }
}

/** Rows copied with their ids: identity sequences must continue after the largest. */
async function resetIdentities(target: Queryable, tables: readonly string[]): Promise<void> {
  const identities = await target.query<{ table_name: string; column_name: string }>(
    "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() AND is_identity = 'YES'",
  );
  for (const { table_name: table, column_name: column } of identities) {
    if (!tables.includes(table)) continue;
    await target.query(`SELECT setval(pg_get_serial_sequence(?, ?), COALESCE((SELECT MAX("${column}") FROM ${table}), 0) + 1, false)`, [table, column]);
  }
}

/** Every table of the SQLite file, each after the tables its foreign keys point to. */
async function tablesInDependencyOrder(db: Queryable): Promise<string[]> {
  const names = (await db.query<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")).map((r) => r.name);
  const parents = new Map<string, string[]>();
  for (const name of names) {
    const fks = await db.query<{ table: string }>('SELECT "table" FROM pragma_foreign_key_list(?)', [name]);
    parents.set(name, fks.map((fk) => fk.table).filter((parent) => parent !== name));
  }
  const ordered: string[] = [];
  const visit = (name: string, path: readonly string[]) => {
    if (ordered.includes(name)) return;
    if (path.includes(name)) throw new AdminError(`foreign keys form a cycle through ${[...path, name].join(' -> ')}`);
    for (const parent of parents.get(name) ?? []) visit(parent, [...path, name]);
    ordered.push(name);
  };
  for (const name of names) visit(name, []);
  return ordered;
}
