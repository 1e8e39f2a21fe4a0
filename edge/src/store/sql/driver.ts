/**
 * The async SQL layer every table module is written against, once, for both backends.
 *
 * Queries are written in the dialect both engines share: `?` placeholders (the PostgreSQL driver
 * numbers them), `INSERT … ON CONFLICT … DO NOTHING | DO UPDATE`, `DELETE … RETURNING`, `excluded.x`,
 * `postern_now_ms()` for the database clock, integers for flags and times, TEXT for JSON. A parameter
 * whose type PostgreSQL cannot infer from its use (`? IS NULL`) is written `CAST(? AS TEXT)`.
 */

/** What a parameter may be. No booleans (flags are 0/1 integers in both schemas), no undefined. */
export type SqlValue = string | number | bigint | Buffer | null;

export type SqlParams = readonly SqlValue[];

/** A row as the engine returns it: column name to value. */
export type SqlRow = Record<string, unknown>;

export interface Queryable {
  /** Every row of a SELECT, or of a write with RETURNING. */
  query<R extends SqlRow = SqlRow>(sql: string, params?: SqlParams): Promise<R[]>;
  /** The first row, or undefined. */
  one<R extends SqlRow = SqlRow>(sql: string, params?: SqlParams): Promise<R | undefined>;
  /** Runs a write; resolves with the number of rows it changed. */
  exec(sql: string, params?: SqlParams): Promise<number>;
}

/** Named locks held until the end of the transaction that takes them. */
export type LockName = 'signing-keys';

export interface Transaction extends Queryable {
  /**
   * Serialises this transaction against every other edge taking the same lock (PostgreSQL
   * `pg_advisory_xact_lock`; on SQLite every transaction already holds the database's write lock).
   */
  lock(name: LockName): Promise<void>;
  /** Runs `hook` once the transaction has committed (never after a rollback). */
  afterCommit(hook: () => void): void;
}

export type Backend = 'sqlite' | 'postgres';

export interface SqlDriver extends Queryable {
  readonly backend: Backend;
  /**
   * Runs `work` in one transaction: committed when it resolves, rolled back when it throws. Only
   * the `tx` handle runs inside it; other queries on the driver wait (SQLite) or run beside it
   * (PostgreSQL) and never join it.
   */
  transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T>;
  /** Applies the migrations that have not run yet, under the backend's lock; returns the versions. */
  migrate(migrations: readonly string[]): Promise<{ readonly from: number; readonly to: number }>;
  /** Whether the database answers now (readiness); never throws. */
  ping(): Promise<boolean>;
  close(): Promise<void>;
}

/**
 * Why a statement failed, in terms the table modules act on: a constraint the data broke, or the
 * database not answering (the edge then fails closed with 503).
 */
export type SqlErrorKind = 'unique' | 'foreign_key' | 'check' | 'not_null' | 'unavailable' | 'other';

export class SqlError extends Error {
  override readonly name = 'SqlError';
  constructor(
    readonly kind: SqlErrorKind,
    message: string,
    options: { cause?: unknown } = {},
  ) {
    super(message, options);
  }
}

/** Rejects what neither engine binds the same way, with a message that names the statement. */
export function checkParams(sql: string, params: SqlParams): void {
  for (let i = 0; i < params.length; i++) {
    const value: unknown = params[i];
    const ok = value === null || typeof value === 'string' || typeof value === 'number' || typeof value === 'bigint' || Buffer.isBuffer(value);
    if (!ok) throw new SqlError('other', `parameter ${i + 1} is ${value === undefined ? 'undefined' : typeof value}, not a SQL value, in: ${sql.slice(0, 120)}`);
  }
}
