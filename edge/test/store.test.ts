import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { SCHEMA_VERSION } from '../src/store/db.js';
import { Store } from '../src/store/index.js';
import { labelStem } from '../src/store/labels.js';

const dir = mkdtempSync(join(tmpdir(), 'postern-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('the database is created in WAL mode with the schema migrated, and reopening keeps data', () => {
  const path = join(dir, 'a.db');
  const store = Store.open(path);
  assert.equal(store.db.pragma('journal_mode', { simple: true }), 'wal');
  const { account } = store.accounts.ensure('Alice@Example.com');
  store.close();
  const again = Store.open(path);
  assert.equal(again.accounts.findByEmail('alice@example.com')?.id, account.id);
  assert.equal(again.db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  again.close();
});

test("migration 4 gives existing sockets the edge's body limit (null); a socket's own limit is stored and must be positive", () => {
  const path = join(dir, 'v3.db');
  const store = Store.open(path);
  const { account } = store.accounts.ensure('dana@example.com');
  const old = store.sockets.create({ accountId: account.id, name: 'old' });
  // Back to the schema before migration 4, with a socket in it.
  store.db.exec('ALTER TABLE sockets DROP COLUMN max_body_bytes');
  dropMigration5(store);
  store.db.pragma('user_version = 3');
  store.close();
  const upgraded = Store.open(path);
  assert.equal(upgraded.db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  assert.equal(upgraded.sockets.findById(old.id)?.maxBodyBytes, null);
  const limited = upgraded.sockets.create({ accountId: account.id, name: 'uploads', maxBodyBytes: 50 * 1024 * 1024 });
  assert.equal(upgraded.sockets.findById(limited.id)?.maxBodyBytes, 50 * 1024 * 1024);
  assert.equal(upgraded.sockets.update(limited.id, { maxBodyBytes: null })?.maxBodyBytes, null);
  assert.equal(upgraded.sockets.findById(limited.id)?.maxBodyBytes, null);
  assert.throws(() => upgraded.sockets.update(limited.id, { maxBodyBytes: 0 }), /CHECK constraint/);
  upgraded.close();
});

/** Undoes migration 5 (cross-origin opt-out, hand-off consents, pruning indexes). */
function dropMigration5(store: Store): void {
  store.db.exec(`ALTER TABLE sockets DROP COLUMN allow_cross_origin_requests; DROP TABLE handoff_consents;
    DROP INDEX sessions_expires; DROP INDEX sessions_last_seen; DROP INDEX sessions_revoked; DROP INDEX login_transactions_expires;
    DROP INDEX handoff_codes_expires; DROP INDEX device_authorizations_expires;`);
}

test('migration 5 gives existing sockets no cross-origin opt-out and an empty consent table', () => {
  const path = join(dir, 'v4.db');
  const store = Store.open(path);
  const { account } = store.accounts.ensure('erin@example.com');
  const old = store.sockets.create({ accountId: account.id, name: 'old' });
  dropMigration5(store);
  store.db.pragma('user_version = 4');
  store.close();
  const upgraded = Store.open(path);
  assert.equal(upgraded.db.pragma('user_version', { simple: true }), SCHEMA_VERSION);
  assert.equal(upgraded.sockets.findById(old.id)?.allowCrossOriginRequests, false);
  assert.equal(upgraded.sockets.update(old.id, { allowCrossOriginRequests: true })?.allowCrossOriginRequests, true);
  assert.equal(upgraded.sockets.findById(old.id)?.allowCrossOriginRequests, true);
  assert.deepEqual(upgraded.consents.listByUser('usr_none'), []);
  upgraded.close();
});

test('a database from a newer Postern is refused', () => {
  const path = join(dir, 'newer.db');
  const store = Store.open(path);
  store.db.pragma('user_version = 99');
  store.close();
  assert.throws(() => Store.open(path), /newer than this Postern/);
});

test('tokens: prefixed, 256-bit, stored hashed, verified, expiring', () => {
  const store = Store.open(join(dir, 'tokens.db'));
  const { account } = store.accounts.ensure('bob@example.com');
  const { token } = store.tokens.create(account.id);
  assert.match(token, /^pst_[A-Za-z0-9_-]{43}$/);
  const stored = store.db.prepare('SELECT hash FROM api_tokens').all() as Array<{ hash: string }>;
  assert.ok(stored.every((row) => !row.hash.includes(token.slice(4))), 'the secret is not stored');
  assert.equal(store.tokens.verify(token)?.accountId, account.id);
  assert.equal(store.tokens.verify(`${token}x`), undefined);
  assert.equal(store.tokens.verify('pst_'), undefined);
  assert.equal(store.tokens.verify(token.slice(4)), undefined, 'the prefix is required');
  const expiring = store.tokens.create(account.id, 'short', Date.now() + 1000).token;
  assert.ok(store.tokens.verify(expiring));
  assert.equal(store.tokens.verify(expiring, Date.now() + 2000), undefined);
  store.close();
});

test('socket hostnames are DNS labels, unique, never reserved words alone', () => {
  const store = Store.open(join(dir, 'sockets.db'));
  const { account } = store.accounts.ensure('carol@example.com');
  const base = { accountId: account.id, ephemeral: true };
  const names = new Set<string>();
  for (let i = 0; i < 50; i++) {
    const socket = store.sockets.create({ ...base, name: 'My Grafana!' });
    assert.match(socket.hostname, /^my-grafana-[a-z0-9]{4,}$/);
    names.add(socket.hostname);
  }
  assert.equal(names.size, 50);
  const admin = store.sockets.create({ ...base, name: 'admin' });
  assert.match(admin.hostname, /^admin-[a-z0-9]{4,}$/, 'a bare reserved word is never a label');
  assert.equal(store.sockets.findByHostname(admin.hostname)?.id, admin.id);
  assert.ok(store.sockets.delete(admin.id));
  assert.equal(store.sockets.findById(admin.id), undefined);
  store.close();
});

test('label stems strip what DNS does not allow', () => {
  assert.equal(labelStem('  Grafana (prod) '), 'grafana-prod');
  assert.equal(labelStem('ÄÖÜ'), 'aou');
  assert.equal(labelStem('---'), 'socket');
  assert.equal(labelStem('x'.repeat(100)).length, 40);
  assert.equal(labelStem("'; DROP TABLE sockets; --"), 'drop-table-sockets');
});
