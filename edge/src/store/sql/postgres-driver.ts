import { createHash } from 'node:crypto';
import pg from 'pg';
import { checkParams, SqlError, type LockName, type SqlDriver, type SqlErrorKind, type SqlParams, type SqlRow, type Transaction } from './driver.js';
import { numberPlaceholders } from './placeholders.js';

const INT8_OID = 20;

/**
 * Times are milliseconds since the epoch in BIGINT columns, which pg returns as strings by default;
 * they (and COUNT(*)) come back as numbers, as from SQLite. Set per pool: pg's global parsers stay.
 */
const TYPES = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID && format !== 'binary' ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text')) as typeof pg.types.getTypeParser,
};

const CONSTRAINT_KINDS: Readonly<Record<string, SqlErrorKind>> = {
  '23505': 'unique',
  '23503': 'foreign_key',
  '23514': 'check',
  '23502': 'not_null',
};

/** SQLSTATE classes and codes that mean "the server is not there", not "the statement is wrong". */
const UNAVAILABLE_SQLSTATE = /^(08|57P0[1-3]|53300)/;
const UNAVAILABLE_NODE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN']);
const UNAVAILABLE_MESSAGE = /Connection terminated|timeout exceeded when trying to connect|not queryable|Client was closed|Cannot use a pool after calling end/;

export function toPostgresError(err: unknown): SqlError {
  if (err instanceof SqlError) return err;
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  let kind: SqlErrorKind = 'other';
  if (typeof code === 'string' && CONSTRAINT_KINDS[code]) kind = CONSTRAINT_KINDS[code];
  else if (typeof code === 'string' && (UNAVAILABLE_SQLSTATE.test(code) || UNAVAILABLE_NODE.has(code))) kind = 'unavailable';
  else if (UNAVAILABLE_MESSAGE.test(message)) kind = 'unavailable';
  return new SqlError(kind, message || String(code), { cause: err });
}

/** An advisory-lock key: 64 bits of SHA-256 of the name, so other applications' keys do not collide. */
export function advisoryKey(name: string): string {
  return createHash('sha256').update(`postern:${name}`).digest().readBigInt64BE(0).toString();
}

export interface PostgresOptions {
  /** Pool size (connections per edge). */
  readonly maxConnections?: number;
  /** How long a query waits for a free or new connection before failing as unavailable. */
  readonly connectTimeoutMs?: number;
  /** Server-side bound on one statement. */
  readonly statementTimeoutMs?: number;
  readonly applicationName?: string;
}

/**
 * The shared backend: a pg Pool. Placeholders are numbered here (with a per-SQL cache), so table
 * modules keep one query text for both backends.
 */
export class PostgresDriver implements SqlDriver {
  readonly backend = 'postgres';
  private readonly pool: pg.Pool;
  private readonly texts = new Map<string, string>();
  private readonly clientConfig: pg.ClientConfig;

  constructor(connectionString: string, options: PostgresOptions = {}) {
    this.clientConfig = {
      connectionString,
      types: TYPES,
      connectionTimeoutMillis: options.connectTimeoutMs ?? 5_000,
      statement_timeout: options.statementTimeoutMs ?? 30_000,
      application_name: options.applicationName ?? 'postern-edge',
      keepAlive: true,
    };
    this.pool = new pg.Pool({ ...this.clientConfig, max: options.maxConnections ?? 10, idleTimeoutMillis: 30_000 });
    // An idle connection that dies (server restart) is dropped by the pool; the next query opens a
    // new one, and a query that cannot is rejected as unavailable. Without a listener it would crash.
    this.pool.on('error', () => undefined);
  }

  /** A connection outside the pool with the same settings (LISTEN needs one of its own). */
  dedicatedClient(applicationName: string): pg.Client {
    return new pg.Client({ ...this.clientConfig, application_name: applicationName });
  }

  query<R extends SqlRow = SqlRow>(sql: string, params: SqlParams = []): Promise<R[]> {
    return this.run<R>(this.pool, sql, params).then((result) => result.rows);
  }

  async one<R extends SqlRow = SqlRow>(sql: string, params: SqlParams = []): Promise<R | undefined> {
    return (await this.query<R>(sql, params))[0];
  }

  exec(sql: string, params: SqlParams = []): Promise<number> {
    return this.run(this.pool, sql, params).then((result) => result.rowCount ?? 0);
  }

  async transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    const client = await this.connect();
    const hooks: Array<() => void> = [];
    let open = true;
    let broken: Error | undefined;
    const on = <V>(fn: () => Promise<V>): Promise<V> =>
      open ? fn() : Promise.reject(new SqlError('other', 'transaction handle used after the transaction ended'));
    const tx: Transaction = {
      query: <R extends SqlRow>(sql: string, params: SqlParams = []) => on(() => this.run<R>(client, sql, params).then((r) => r.rows)),
      one: async <R extends SqlRow>(sql: string, params: SqlParams = []) => (await tx.query<R>(sql, params))[0],
      exec: (sql, params = []) => on(() => this.run(client, sql, params).then((r) => r.rowCount ?? 0)),
      lock: (name: LockName) => on(() => this.run(client, 'SELECT pg_advisory_xact_lock(?::bigint)', [advisoryKey(name)]).then(() => undefined)),
      afterCommit: (hook) => void hooks.push(hook),
    };
    let result: T;
    try {
      await this.run(client, 'BEGIN', []);
      result = await work(tx);
      await this.run(client, 'COMMIT', []);
    } catch (err) {
      await client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError));
      throw err;
    } finally {
      open = false;
      client.release(broken);
    }
    for (const hook of hooks) hook();
    return result;
  }

  /**
   * `schema_migrations` records the versions applied. A session advisory lock makes edges that start
   * together wait for the first; each migration commits with its version row.
   */
  async migrate(migrations: readonly string[]): Promise<{ from: number; to: number }> {
    const client = await this.connect();
    let broken: Error | undefined;
    try {
      await this.run(client, 'SELECT pg_advisory_lock(?::bigint)', [advisoryKey('schema')]);
      await this.run(client, 'CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())', []);
      const row = (await this.run<{ version: number }>(client, 'SELECT COALESCE(MAX(version), 0) AS version FROM schema_migrations', [])).rows[0];
      const from = row?.version ?? 0;
      if (from > migrations.length) {
        throw new SqlError('other', `database schema version ${from} is newer than this Postern (${migrations.length}); upgrade Postern`);
      }
      for (let version = from; version < migrations.length; version++) {
        await this.run(client, 'BEGIN', []);
        try {
          await client.query(migrations[version]!); // several statements: the simple protocol, no parameters
          await this.run(client, 'INSERT INTO schema_migrations (version) VALUES (?)', [version + 1]);
          await this.run(client, 'COMMIT', []);
        } catch (err) {
          await client.query('ROLLBACK').catch((rollbackError: Error) => (broken = rollbackError));
          throw toPostgresError(err);
        }
      }
      return { from, to: migrations.length };
    } catch (err) {
      broken ??= err as Error;
      throw toPostgresError(err);
    } finally {
      // Releasing with an error closes the connection, which also drops the session lock.
      if (!broken) await client.query('SELECT pg_advisory_unlock_all()').catch((unlockError: Error) => (broken = unlockError));
      client.release(broken);
    }
  }

  async ping(): Promise<boolean> {
    try {
      return (await this.one<{ ok: number }>('SELECT 1 AS ok'))?.ok === 1;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    await this.pool.end().catch(() => undefined);
  }

  private async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (err) {
      throw toPostgresError(err);
    }
  }

  private async run<R extends SqlRow = SqlRow>(on: pg.Pool | pg.PoolClient, sql: string, params: SqlParams): Promise<pg.QueryResult<R>> {
    checkParams(sql, params);
    let text = this.texts.get(sql);
    if (text === undefined) {
      text = numberPlaceholders(sql);
      if (this.texts.size >= 1_000) this.texts.clear();
      this.texts.set(sql, text);
    }
    try {
      return await on.query<R>(text, params as unknown[]);
    } catch (err) {
      throw toPostgresError(err);
    }
  }
}
