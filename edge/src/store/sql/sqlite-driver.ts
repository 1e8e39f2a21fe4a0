import Database from 'better-sqlite3';
import { checkParams, SqlError, type SqlDriver, type SqlErrorKind, type SqlParams, type SqlRow, type Transaction } from './driver.js';
import { Mutex } from './mutex.js';

/** How long a statement waits for another process's lock (SQLite's busy_timeout). */
const BUSY_WAIT_MS = 5_000;

/** Prepared statements kept per connection; dynamic SQL (batch inserts) must not grow it forever. */
const STATEMENT_CACHE_MAX = 500;

const CONSTRAINT_KINDS: Readonly<Record<string, SqlErrorKind>> = {
  SQLITE_CONSTRAINT_UNIQUE: 'unique',
  SQLITE_CONSTRAINT_PRIMARYKEY: 'unique',
  SQLITE_CONSTRAINT_FOREIGNKEY: 'foreign_key',
  SQLITE_CONSTRAINT_CHECK: 'check',
  SQLITE_CONSTRAINT_NOTNULL: 'not_null',
};

function toSqlError(err: unknown): SqlError {
  if (err instanceof SqlError) return err;
  const code = (err as { code?: unknown }).code;
  const message = err instanceof Error ? err.message : String(err);
  if (typeof code === 'string') {
    const kind = CONSTRAINT_KINDS[code] ?? (/^SQLITE_(BUSY|LOCKED|CANTOPEN|IOERR|FULL)/.test(code) ? 'unavailable' : 'other');
    return new SqlError(kind, message, { cause: err });
  }
  // better-sqlite3 throws a TypeError once the connection is closed.
  return new SqlError(/not open/.test(message) ? 'unavailable' : 'other', message, { cause: err });
}

/**
 * The embedded backend: one better-sqlite3 connection (synchronous, so every statement is atomic),
 * behind the async interface. A transaction holds the connection from BEGIN IMMEDIATE (the file's
 * write lock, which also serialises other processes) to COMMIT; queries made meanwhile wait for it.
 */
export class SqliteDriver implements SqlDriver {
  readonly backend = 'sqlite';
  private readonly statements = new Map<string, Database.Statement>();
  private readonly mutex = new Mutex();

  constructor(readonly db: Database.Database) {
    // The database clock of the shared dialect; PostgreSQL defines the same function in its schema.
    db.function('postern_now_ms', { deterministic: false }, () => Date.now());
  }

  /** Opens (creating unless `mustExist`) a database file: WAL, foreign keys, a 5 s busy wait. */
  static open(path: string, options: { mustExist?: boolean } = {}): SqliteDriver {
    let db: Database.Database;
    try {
      db = new Database(path, { fileMustExist: options.mustExist ?? false });
    } catch (err) {
      throw toSqlError(err);
    }
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('foreign_keys = ON');
    db.pragma(`busy_timeout = ${BUSY_WAIT_MS}`);
    return new SqliteDriver(db);
  }

  query<R extends SqlRow = SqlRow>(sql: string, params: SqlParams = []): Promise<R[]> {
    return this.outside(() => this.all<R>(sql, params));
  }

  async one<R extends SqlRow = SqlRow>(sql: string, params: SqlParams = []): Promise<R | undefined> {
    return (await this.query<R>(sql, params))[0];
  }

  exec(sql: string, params: SqlParams = []): Promise<number> {
    return this.outside(() => this.run(sql, params));
  }

  async transaction<T>(work: (tx: Transaction) => Promise<T>): Promise<T> {
    const release = await this.mutex.acquire();
    const hooks: Array<() => void> = [];
    let open = true;
    const guard = <V>(fn: () => V): Promise<V> => {
      if (!open) return Promise.reject(new SqlError('other', 'transaction handle used after the transaction ended'));
      return this.attempt(fn);
    };
    const tx: Transaction = {
      query: <R extends SqlRow>(sql: string, params: SqlParams = []) => guard(() => this.all<R>(sql, params)),
      one: async <R extends SqlRow>(sql: string, params: SqlParams = []) => (await guard(() => this.all<R>(sql, params)))[0],
      exec: (sql, params = []) => guard(() => this.run(sql, params)),
      lock: () => guard(() => undefined), // BEGIN IMMEDIATE already holds the write lock
      afterCommit: (hook) => void hooks.push(hook),
    };
    let result: T;
    try {
      await this.beginImmediate();
      try {
        result = await work(tx);
        await this.attempt(() => this.db.exec('COMMIT'));
      } catch (err) {
        if (this.db.inTransaction) this.db.exec('ROLLBACK');
        throw err;
      }
    } finally {
      open = false;
      release();
    }
    for (const hook of hooks) hook();
    return result;
  }

  /**
   * Takes the write lock without SQLite's busy wait, which would block the event loop (and, against
   * another connection of this process, never end): while another holds it, retry asynchronously.
   */
  private async beginImmediate(): Promise<void> {
    const deadline = performance.now() + BUSY_WAIT_MS;
    this.db.pragma('busy_timeout = 0');
    try {
      for (let attempt = 0; ; attempt++) {
        try {
          this.db.exec('BEGIN IMMEDIATE');
          return;
        } catch (err) {
          if ((err as { code?: unknown }).code !== 'SQLITE_BUSY' || performance.now() > deadline) throw toSqlError(err);
        }
        await new Promise((resolve) => setTimeout(resolve, Math.min(50, 2 ** attempt)));
      }
    } finally {
      if (this.db.open) this.db.pragma(`busy_timeout = ${BUSY_WAIT_MS}`);
    }
  }

  /**
   * `PRAGMA user_version` counts the migrations applied. The version is read and the pending ones
   * applied inside one write transaction, so processes opening a new file together make one schema.
   */
  async migrate(migrations: readonly string[]): Promise<{ from: number; to: number }> {
    const release = await this.mutex.acquire();
    try {
      return await this.attempt(() =>
        this.db
          .transaction(() => {
            const from = this.db.pragma('user_version', { simple: true }) as number;
            if (from > migrations.length) {
              throw new SqlError('other', `database schema version ${from} is newer than this Postern (${migrations.length}); upgrade Postern`);
            }
            for (let version = from; version < migrations.length; version++) this.db.exec(migrations[version]!);
            this.db.pragma(`user_version = ${migrations.length}`);
            return { from, to: migrations.length };
          })
          .immediate(),
      );
    } finally {
      release();
    }
  }

  async ping(): Promise<boolean> {
    try {
      return (await this.one('SELECT 1 AS ok'))?.ok === 1;
    } catch {
      return false;
    }
  }

  async close(): Promise<void> {
    const release = await this.mutex.acquire();
    try {
      if (this.db.open) this.db.close();
    } finally {
      release();
    }
  }

  /** Runs now unless a transaction holds the connection; then after it. */
  private async outside<V>(fn: () => V): Promise<V> {
    if (!this.mutex.locked) return this.attempt(fn);
    const release = await this.mutex.acquire();
    try {
      return await this.attempt(fn);
    } finally {
      release();
    }
  }

  private attempt<V>(fn: () => V): Promise<V> {
    try {
      return Promise.resolve(fn());
    } catch (err) {
      return Promise.reject(toSqlError(err));
    }
  }

  private statement(sql: string, params: SqlParams): Database.Statement {
    checkParams(sql, params);
    let statement = this.statements.get(sql);
    if (!statement) {
      if (this.statements.size >= STATEMENT_CACHE_MAX) this.statements.clear();
      statement = this.db.prepare(sql);
      this.statements.set(sql, statement);
    }
    return statement;
  }

  private all<R>(sql: string, params: SqlParams): R[] {
    const statement = this.statement(sql, params);
    if (!statement.reader) {
      statement.run(...params);
      return [];
    }
    return statement.all(...params) as R[];
  }

  private run(sql: string, params: SqlParams): number {
    return this.statement(sql, params).run(...params).changes;
  }
}
