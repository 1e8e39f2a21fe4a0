import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import Database from 'better-sqlite3';
import { CompiledPolicy } from '@postern/shared/policy';
import { Store } from '../src/store/index.js';
import { labelStem } from '../src/store/labels.js';
import { SQLITE_MIGRATIONS } from '../src/store/sql/sqlite-migrations.js';
import { SqliteDriver } from '../src/store/sql/sqlite-driver.js';
import { sqliteOf } from './support/sqlite.js';

const dir = mkdtempSync(join(tmpdir(), 'postern-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const SCHEMA_VERSION = SQLITE_MIGRATIONS.length;

/** A database file at an older schema version (before the migration under test), as a raw connection. */
async function atVersion(path: string, version: number): Promise<Database.Database> {
  const driver = SqliteDriver.open(path);
  await driver.migrate(SQLITE_MIGRATIONS.slice(0, version));
  return driver.db;
}

test('the database is created in WAL mode with the schema migrated, and reopening keeps data', async () => {
  const path = join(dir, 'a.db');
  const store = await Store.open(path);
  assert.equal(sqliteOf(store).pragma('journal_mode', { simple: true }), 'wal');
  const { account } = await store.accounts.ensure('Alice@Example.com');
  await store.close();
  const again = await Store.open(path);
  assert.equal((await again.accounts.findByEmail('alice@example.com'))?.id, account.id);
  assert.equal(sqliteOf(again).pragma('user_version', { simple: true }), SCHEMA_VERSION);
  await again.close();
});

test("migration 4 gives existing sockets the edge's body limit (null); a socket's own limit is stored and must be positive", async () => {
  const path = join(dir, 'v3.db');
  // The schema before migration 4, with a socket in it.
  const v3 = await atVersion(path, 3);
  v3.exec(`INSERT INTO accounts (id, email, created_at) VALUES ('acc1', 'dana@example.com', 0);
           INSERT INTO sockets (id, account_id, name, hostname, protocol, created_at) VALUES ('sck_old', 'acc1', 'old', 'old-acc1', 'http', 0);`);
  v3.close();
  const upgraded = await Store.open(path);
  const account = (await upgraded.accounts.findByEmail('dana@example.com'))!;
  assert.equal(sqliteOf(upgraded).pragma('user_version', { simple: true }), SCHEMA_VERSION);
  assert.equal((await upgraded.sockets.findById('sck_old'))?.maxBodyBytes, null);
  const limited = await upgraded.sockets.create({ accountId: account.id, name: 'uploads', maxBodyBytes: 50 * 1024 * 1024 });
  assert.equal((await upgraded.sockets.findById(limited.id))?.maxBodyBytes, 50 * 1024 * 1024);
  assert.equal((await upgraded.sockets.update(limited.id, { maxBodyBytes: null }))?.maxBodyBytes, null);
  assert.equal((await upgraded.sockets.findById(limited.id))?.maxBodyBytes, null);
  await assert.rejects(upgraded.sockets.update(limited.id, { maxBodyBytes: 0 }), /CHECK constraint/);
  await upgraded.close();
});

test('migration 5 gives existing sockets no cross-origin opt-out and an empty consent table', async () => {
  const path = join(dir, 'v4.db');
  // The schema before migration 5, with a socket in it.
  const v4 = await atVersion(path, 4);
  v4.exec(`INSERT INTO accounts (id, email, created_at) VALUES ('acc1', 'erin@example.com', 0);
           INSERT INTO sockets (id, account_id, name, hostname, protocol, created_at) VALUES ('sck_old', 'acc1', 'old', 'old-acc1', 'http', 0);`);
  v4.close();
  const upgraded = await Store.open(path);
  assert.equal(sqliteOf(upgraded).pragma('user_version', { simple: true }), SCHEMA_VERSION);
  assert.equal((await upgraded.sockets.findById('sck_old'))?.allowCrossOriginRequests, false);
  assert.equal((await upgraded.sockets.update('sck_old', { allowCrossOriginRequests: true }))?.allowCrossOriginRequests, true);
  assert.equal((await upgraded.sockets.findById('sck_old'))?.allowCrossOriginRequests, true);
  assert.deepEqual(await upgraded.consents.listByUser('usr_none'), []);
  await upgraded.close();
});

test('migration 7 turns the rule columns into one policy datum without changing who gets in', async () => {
  const path = join(dir, 'v6.db');
  const v6 = await atVersion(path, 6);
  v6.exec(`INSERT INTO accounts (id, email, created_at) VALUES ('acc1', 'owner@corp.com', 0);
    INSERT INTO sockets (id, account_id, name, hostname, protocol, cloudauth, allowed_email_domains, allowed_email_addresses,
        allowed_github_orgs, allowed_github_teams, allowed_groups, created_at) VALUES
      ('sck_open', 'acc1', 'open', 'open-acc1', 'http', 0, '[]', '[]', '[]', '[]', '[]', 0),
      ('sck_owner', 'acc1', 'owner', 'owner-acc1', 'http', 1, '[]', '[]', '[]', '[]', '[]', 0),
      ('sck_rules', 'acc1', 'rules', 'rules-acc1', 'http', 1, '["corp.com","*.corp.com","corp.com"]', '["ext@other.com"]', '["acme"]', '["acme/ops"]', '["Eng"]', 0),
      ('sck_ssh', 'acc1', 'ssh', 'ssh-acc1', 'tcp', 1, '[]', '["ext@other.com"]', '[]', '[]', '[]', 0);`);
  v6.close();
  const store = await Store.open(path);
  assert.equal(sqliteOf(store).pragma('user_version', { simple: true }), SCHEMA_VERSION);
  const ids = ['sck_open', 'sck_owner', 'sck_rules', 'sck_ssh'];
  const policies = new Map(await Promise.all(ids.map(async (id) => [id, (await store.sockets.findById(id))!.policy] as const)));
  const policy = (id: string) => policies.get(id)!;
  assert.deepEqual(policy('sck_open'), { version: 1, rules: [], default: { action: 'public' } });
  assert.deepEqual(policy('sck_owner'), { version: 1, rules: [], default: { action: 'allow' } });
  assert.deepEqual(policy('sck_rules'), {
    version: 1,
    rules: [],
    // Values as the old API wrote them (a repeated one too: the next change normalises it away).
    default: { action: 'allow', emails: ['ext@other.com'], domains: ['corp.com', '*.corp.com', 'corp.com'], github_orgs: ['acme'], github_teams: ['acme/ops'], groups: ['Eng'] },
  });
  assert.deepEqual(policy('sck_ssh').default, { action: 'allow', emails: ['ext@other.com'] });
  assert.equal((await store.sockets.findById('sck_rules'))!.policyRevision, 1);
  const columns = (sqliteOf(store).prepare('PRAGMA table_info(sockets)').all() as { name: string }[]).map((c) => c.name);
  assert.ok(!columns.some((c) => c === 'cloudauth' || c.startsWith('allowed_')), `the old columns are gone: ${columns.join(', ')}`);

  // Who gets in is unchanged: the same people as the old evaluate admitted.
  const at = Date.now();
  const decide = (id: string, email: string | null, groups: string[] = [], githubOrgs: string[] = []) =>
    new CompiledPolicy(policy(id), 'owner@corp.com').decide(email === null ? null : { email, groups, githubOrgs, githubTeams: [] }, { path: '/', method: 'GET', ip: null, at, corsPreflight: false }).kind;
  assert.equal(decide('sck_open', null), 'allow');
  assert.equal(decide('sck_owner', 'owner@corp.com'), 'allow');
  assert.equal(decide('sck_owner', 'x@corp.com'), 'deny');
  assert.equal(decide('sck_rules', 'x@corp.com'), 'allow');
  assert.equal(decide('sck_rules', 'x@eu.corp.com'), 'allow');
  assert.equal(decide('sck_rules', 'ext@other.com'), 'allow');
  assert.equal(decide('sck_rules', 'y@other.com', ['Eng']), 'allow');
  assert.equal(decide('sck_rules', 'y@other.com', ['eng']), 'deny');
  assert.equal(decide('sck_rules', 'y@other.com', [], ['acme']), 'allow');
  assert.equal(decide('sck_rules', null), 'sign-in');
  await store.close();
});

test('processes that open a new database file at the same moment make one schema and all succeed', async () => {
  const path = join(dir, 'together.db');
  const dbModule = new URL('../src/store/db.js', import.meta.url).href;
  const opener = `const { openSqliteStore } = await import(${JSON.stringify(dbModule)}); await (await openSqliteStore(process.argv[1])).close();`;
  const open = () =>
    new Promise<number | null>((resolve) => {
      const child = spawn(process.execPath, ['--input-type=module', '-e', opener, path], { stdio: ['ignore', 'ignore', 'inherit'] });
      child.on('exit', resolve);
    });
  const codes = await Promise.all(Array.from({ length: 6 }, open));
  assert.deepEqual(codes, [0, 0, 0, 0, 0, 0]);
  const db = new Database(path, { readonly: true });
  assert.equal(db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  db.close();
});

test('a database from a newer Postern is refused', async () => {
  const path = join(dir, 'newer.db');
  const store = await Store.open(path);
  sqliteOf(store).pragma('user_version = 99');
  await store.close();
  await assert.rejects(Store.open(path), /newer than this Postern/);
});

test('tokens: prefixed, 256-bit, stored hashed, verified, expiring', async () => {
  const store = await Store.open(join(dir, 'tokens.db'));
  const { account } = await store.accounts.ensure('bob@example.com');
  const { token } = await store.tokens.create(account.id);
  assert.match(token, /^pst_[A-Za-z0-9_-]{43}$/);
  const stored = sqliteOf(store).prepare('SELECT hash FROM api_tokens').all() as Array<{ hash: string }>;
  assert.ok(stored.every((row) => !row.hash.includes(token.slice(4))), 'the secret is not stored');
  const verified = async (secret: string, now?: number) => {
    const check = await store.tokens.check(secret, now);
    return check.ok ? check.token : undefined;
  };
  assert.equal((await verified(token))?.accountId, account.id);
  assert.equal(await verified(`${token}x`), undefined);
  assert.equal(await verified('pst_'), undefined);
  assert.equal(await verified(token.slice(4)), undefined, 'the prefix is required');
  const expiring = (await store.tokens.create(account.id, 'short', Date.now() + 1000)).token;
  assert.ok(await verified(expiring));
  assert.equal(await verified(expiring, Date.now() + 2000), undefined);
  await store.close();
});

test('socket hostnames are DNS labels, unique, never reserved words alone', async () => {
  const store = await Store.open(join(dir, 'sockets.db'));
  const { account } = await store.accounts.ensure('carol@example.com');
  const base = { accountId: account.id, ephemeral: true };
  const names = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const socket = await store.sockets.create({ ...base, name: 'My Grafana!' });
    assert.match(socket.hostname, /^my-grafana-[a-z0-9]{4,}$/);
    names.add(socket.hostname);
  }
  assert.equal(names.size, 50);
  const admin = await store.sockets.create({ ...base, name: 'admin' });
  assert.match(admin.hostname, /^admin-[a-z0-9]{4,}$/, 'a bare reserved word is never a label');
  assert.equal((await store.sockets.findByHostname(admin.hostname))?.id, admin.id);
  assert.ok(await store.sockets.delete(admin.id));
  assert.equal(await store.sockets.findById(admin.id), undefined);
  await store.close();
});

test('label stems strip what DNS does not allow', async () => {
  assert.equal(labelStem('  Grafana (prod) '), 'grafana-prod');
  assert.equal(labelStem('ÄÖÜ'), 'aou');
  assert.equal(labelStem('---'), 'socket');
  assert.equal(labelStem('x'.repeat(100)).length, 40);
  assert.equal(labelStem("'; DROP TABLE sockets; --"), 'drop-table-sockets');
});
