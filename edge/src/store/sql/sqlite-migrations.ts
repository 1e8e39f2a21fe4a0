/**
 * The SQLite schema, applied in order by SqliteDriver.migrate; `PRAGMA user_version` records how many
 * ran. Append only: never edit a migration that has shipped. Every migration has its PostgreSQL twin in
 * postgres-migrations.ts (the schema parity test fails otherwise).
 */
export const SQLITE_MIGRATIONS: readonly string[] = [
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
  `CREATE TABLE users (
     id TEXT PRIMARY KEY,
     issuer TEXT NOT NULL,
     subject TEXT NOT NULL,
     email TEXT,
     name TEXT,
     groups TEXT NOT NULL DEFAULT '[]',
     github_orgs TEXT NOT NULL DEFAULT '[]',
     github_teams TEXT NOT NULL DEFAULT '[]',
     created_at INTEGER NOT NULL,
     last_login_at INTEGER NOT NULL,
     UNIQUE (issuer, subject)
   );
   CREATE TABLE local_passwords (
     account_id TEXT PRIMARY KEY REFERENCES accounts(id) ON DELETE CASCADE,
     hash TEXT NOT NULL,
     updated_at INTEGER NOT NULL
   );
   CREATE TABLE login_transactions (
     id_hash TEXT PRIMARY KEY,
     provider TEXT NOT NULL,
     code_verifier TEXT,
     nonce TEXT,
     return_to TEXT NOT NULL,
     expires_at INTEGER NOT NULL
   );
   CREATE TABLE sessions (
     id_hash TEXT PRIMARY KEY,
     user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
     socket_id TEXT REFERENCES sockets(id) ON DELETE CASCADE,
     parent_hash TEXT,
     created_at INTEGER NOT NULL,
     last_seen_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     revoked_at INTEGER
   );
   CREATE INDEX sessions_user ON sessions(user_id);
   CREATE INDEX sessions_parent ON sessions(parent_hash);
   CREATE TABLE handoff_codes (
     code_hash TEXT PRIMARY KEY,
     parent_hash TEXT NOT NULL,
     socket_id TEXT NOT NULL REFERENCES sockets(id) ON DELETE CASCADE,
     return_path TEXT NOT NULL,
     expires_at INTEGER NOT NULL
   );
   CREATE TABLE signing_keys (
     kid TEXT PRIMARY KEY,
     private_jwk TEXT NOT NULL,
     public_jwk TEXT NOT NULL,
     created_at INTEGER NOT NULL
   );
   ALTER TABLE sockets ADD COLUMN allowed_github_orgs TEXT NOT NULL DEFAULT '[]';
   ALTER TABLE sockets ADD COLUMN allowed_github_teams TEXT NOT NULL DEFAULT '[]';
   ALTER TABLE sockets ADD COLUMN allowed_groups TEXT NOT NULL DEFAULT '[]';
   ALTER TABLE sockets ADD COLUMN identity_headers TEXT NOT NULL DEFAULT '{}';`,
  `CREATE TABLE tunnels (
     id TEXT PRIMARY KEY,
     socket_id TEXT NOT NULL REFERENCES sockets(id) ON DELETE CASCADE,
     account_id TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
     name TEXT NOT NULL DEFAULT '',
     ephemeral INTEGER NOT NULL DEFAULT 0,
     created_at INTEGER NOT NULL,
     last_connected_at INTEGER
   );
   CREATE INDEX tunnels_socket ON tunnels(socket_id);
   CREATE TABLE audit_events (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     at INTEGER NOT NULL,
     type TEXT NOT NULL,
     account_id TEXT,
     socket_id TEXT,
     actor TEXT,
     remote TEXT,
     detail TEXT NOT NULL DEFAULT '{}'
   );
   CREATE INDEX audit_account_at ON audit_events(account_id, at);
   CREATE INDEX audit_socket_at ON audit_events(socket_id, at);
   CREATE INDEX audit_at ON audit_events(at);
   CREATE TABLE device_authorizations (
     device_hash TEXT PRIMARY KEY,
     user_code TEXT NOT NULL UNIQUE,
     client_name TEXT NOT NULL,
     remote TEXT,
     created_at INTEGER NOT NULL,
     expires_at INTEGER NOT NULL,
     last_poll_at INTEGER,
     status TEXT NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'denied')),
     user_id TEXT REFERENCES users(id) ON DELETE CASCADE,
     account_id TEXT REFERENCES accounts(id) ON DELETE CASCADE
   );
   ALTER TABLE accounts ADD COLUMN publisher INTEGER NOT NULL DEFAULT 1;
   ALTER TABLE api_tokens ADD COLUMN user_id TEXT REFERENCES users(id) ON DELETE CASCADE;
   ALTER TABLE api_tokens ADD COLUMN last_used_at INTEGER;
   CREATE INDEX api_tokens_account ON api_tokens(account_id);`,
  // NULL: the edge's --max-body-bytes applies.
  `ALTER TABLE sockets ADD COLUMN max_body_bytes INTEGER CHECK (max_body_bytes IS NULL OR max_body_bytes > 0);`,
  // Issue 10: cross-origin opt-out, hand-off consents, and indexes the pruning job deletes by.
  `ALTER TABLE sockets ADD COLUMN allow_cross_origin_requests INTEGER NOT NULL DEFAULT 0;
   CREATE TABLE handoff_consents (
     user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
     socket_id TEXT NOT NULL REFERENCES sockets(id) ON DELETE CASCADE,
     created_at INTEGER NOT NULL,
     PRIMARY KEY (user_id, socket_id)
   );
   CREATE INDEX sessions_expires ON sessions(expires_at);
   CREATE INDEX sessions_last_seen ON sessions(last_seen_at);
   CREATE INDEX sessions_revoked ON sessions(revoked_at) WHERE revoked_at IS NOT NULL;
   CREATE INDEX login_transactions_expires ON login_transactions(expires_at);
   CREATE INDEX handoff_codes_expires ON handoff_codes(expires_at);
   CREATE INDEX device_authorizations_expires ON device_authorizations(expires_at);`,
  // Sessions that follow the IdP (issue 12): what each login was granted by its IdP, sealed; the
  // tokens \`postern login\` made from it; logout token ids already used (back-channel logout replay).
  `CREATE TABLE IF NOT EXISTS idp_grants (
     id TEXT PRIMARY KEY,
     login_hash TEXT NOT NULL UNIQUE,
     user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
     provider TEXT NOT NULL,
     sid TEXT,
     sealed TEXT,
     created_at INTEGER NOT NULL,
     validated_at INTEGER NOT NULL,
     revalidate_at INTEGER,
     failures INTEGER NOT NULL DEFAULT 0
   );
   CREATE INDEX IF NOT EXISTS idp_grants_due ON idp_grants(revalidate_at) WHERE revalidate_at IS NOT NULL;
   CREATE INDEX IF NOT EXISTS idp_grants_user ON idp_grants(user_id);
   CREATE INDEX IF NOT EXISTS idp_grants_sid ON idp_grants(provider, sid);
   CREATE TABLE IF NOT EXISTS idp_grant_tokens (
     token_id TEXT PRIMARY KEY REFERENCES api_tokens(id) ON DELETE CASCADE,
     grant_id TEXT NOT NULL REFERENCES idp_grants(id) ON DELETE CASCADE
   );
   CREATE INDEX IF NOT EXISTS idp_grant_tokens_grant ON idp_grant_tokens(grant_id);
   CREATE TABLE IF NOT EXISTS idp_grant_devices (
     device_hash TEXT PRIMARY KEY,
     grant_id TEXT NOT NULL REFERENCES idp_grants(id) ON DELETE CASCADE,
     expires_at INTEGER NOT NULL
   );
   CREATE TABLE IF NOT EXISTS logout_token_ids (
     issuer TEXT NOT NULL,
     jti TEXT NOT NULL,
     expires_at INTEGER NOT NULL,
     PRIMARY KEY (issuer, jti)
   );`,
  // Issue 14 (migration 7): a socket's rules become one JSON datum, `policy` (version 1, see @postern/shared/policy), with a
  // revision the edge compiles it by. Sign-in with lists becomes the default `allow` with the same
  // lists (normalised already by the API that wrote them; an empty list is left out, as the
  // normaliser does); no sign-in becomes the default `public`. Mirrored in postgres-migrations.ts.
  `ALTER TABLE sockets ADD COLUMN policy TEXT NOT NULL DEFAULT '{"version":1,"rules":[],"default":{"action":"public"}}';
   ALTER TABLE sockets ADD COLUMN policy_revision INTEGER NOT NULL DEFAULT 1;
   UPDATE sockets SET policy = json_object('version', 1, 'rules', json('[]'), 'default', CASE WHEN cloudauth = 1
     THEN json_patch('{"action":"allow"}', json_object(
       'emails', CASE WHEN allowed_email_addresses <> '[]' THEN json(allowed_email_addresses) END,
       'domains', CASE WHEN allowed_email_domains <> '[]' THEN json(allowed_email_domains) END,
       'github_orgs', CASE WHEN allowed_github_orgs <> '[]' THEN json(allowed_github_orgs) END,
       'github_teams', CASE WHEN allowed_github_teams <> '[]' THEN json(allowed_github_teams) END,
       'groups', CASE WHEN allowed_groups <> '[]' THEN json(allowed_groups) END))
     ELSE json('{"action":"public"}') END);
   ALTER TABLE sockets DROP COLUMN cloudauth;
   ALTER TABLE sockets DROP COLUMN allowed_email_domains;
   ALTER TABLE sockets DROP COLUMN allowed_email_addresses;
   ALTER TABLE sockets DROP COLUMN allowed_github_orgs;
   ALTER TABLE sockets DROP COLUMN allowed_github_teams;
   ALTER TABLE sockets DROP COLUMN allowed_groups;`,
];
