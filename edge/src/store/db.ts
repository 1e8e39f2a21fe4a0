import Database from 'better-sqlite3';

export type Db = Database.Database;

/**
 * Schema migrations, applied in order; `PRAGMA user_version` records how many ran.
 * Append only: never edit a migration that has shipped.
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE accounts (
     id TEXT PRIMARY KEY,
     email TEXT NOT NULL UNIQUE COLLATE NOCASE,
     created_at INTEGER NOT NULL
   );
   CREATE TABLE api_tokens (
     id TEXT PRIMARY KEY,
     account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
     prefix TEXT NOT NULL,
     hash TEXT NOT NULL UNIQUE,
     name TEXT NOT NULL DEFAULT '',
     created_at INTEGER NOT NULL,
     expires_at INTEGER,
     revoked_at INTEGER
   );
   CREATE TABLE sockets (
     id TEXT PRIMARY KEY,
     account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
     name TEXT NOT NULL,
     hostname TEXT NOT NULL UNIQUE,
     protocol TEXT NOT NULL CHECK (protocol IN ('http', 'tcp')),
     cloudauth INTEGER NOT NULL DEFAULT 0,
     allowed_email_domains TEXT NOT NULL DEFAULT '[]',
     allowed_email_addresses TEXT NOT NULL DEFAULT '[]',
     ephemeral INTEGER NOT NULL DEFAULT 0,
     created_at INTEGER NOT NULL
   );
   CREATE INDEX sockets_account ON sockets(account_id);`,
];

/** Opens (creating if needed) the edge database: WAL, foreign keys, migrations. */
export function openDatabase(path: string): Db {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  return db;
}

function migrate(db: Db): void {
  const current = db.pragma('user_version', { simple: true }) as number;
  if (current > MIGRATIONS.length) {
    throw new Error(
      `database schema version ${current} is newer than this Postern (${MIGRATIONS.length}); upgrade Postern`,
    );
  }
  for (let version = current; version < MIGRATIONS.length; version++) {
    db.transaction(() => {
      db.exec(MIGRATIONS[version]!);
      db.pragma(`user_version = ${version + 1}`);
    })();
  }
}
