import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { openSql, type SqlDriver } from '@postern/edge/sql';
import { makeTempDir, runCli } from './lib/postern.js';
import { PostgresServer } from './lib/postgres.js';

/** `postern admin migrate-store`: an edge's SQLite state, sessions included, moved into PostgreSQL. */

const temp = makeTempDir('migrate-store');
let server: PostgresServer;

before(async () => {
  server = await PostgresServer.start();
});

after(async () => {
  await server?.destroy();
  temp.remove();
});

const SESSIONS = 1_201; // more than two INSERT batches

/** An edge database made the way an edge makes it: accounts and tokens by the CLI, the rest as the edge writes it. */
async function edgeDatabase(path: string): Promise<void> {
  const passwordFile = join(temp.dir, 'password');
  writeFileSync(passwordFile, 'correct horse battery staple\n');
  const add = await runCli(['admin', 'user', 'add', 'alice@example.com', '--db', path, '--password-file', passwordFile]);
  assert.equal(add.code, 0, add.stderr.join('\n'));
  const token = await runCli(['admin', 'token', 'create', 'alice@example.com', '--db', path]);
  assert.equal(token.code, 0, token.stderr.join('\n'));
  const db = await openSql(path);
  try {
    const accountId = (await db.one<{ id: string }>('SELECT id FROM accounts'))!.id;
    const now = 1_796_147_924_161;
    await db.exec("INSERT INTO users (id, issuer, subject, email, name, groups, created_at, last_login_at) VALUES ('usr_1', 'https://idp.example', 'sub-1', 'alice@example.com', 'Älice', '[\"ops\"]', ?, ?)", [now, now]);
    await db.exec(
      `INSERT INTO sockets (id, account_id, name, hostname, protocol, policy, identity_headers, max_body_bytes, created_at)
       VALUES ('sck_1', ?, 'Grafana', 'grafana-abc123', 'http', '{"version":1,"rules":[],"default":{"action":"allow","domains":["example.com"]}}', '{"email":"X-Email"}', 52428800, ?)`,
      [accountId, now],
    );
    await db.exec("INSERT INTO tunnels (id, socket_id, account_id, name, created_at, last_connected_at) VALUES ('tun_1', 'sck_1', ?, 'laptop', ?, ?)", [accountId, now, now]);
    await db.exec("INSERT INTO sessions (id_hash, user_id, socket_id, parent_hash, created_at, last_seen_at, expires_at) VALUES ('login', 'usr_1', NULL, NULL, ?, ?, ?)", [now, now, now + 1]);
    await db.transaction(async (tx) => {
      for (let i = 0; i < SESSIONS - 1; i++) {
        await tx.exec("INSERT INTO sessions (id_hash, user_id, socket_id, parent_hash, created_at, last_seen_at, expires_at, revoked_at) VALUES (?, 'usr_1', 'sck_1', 'login', ?, ?, ?, ?)", [
          `s${i}`,
          now + i,
          now + i,
          now + 86_400_000,
          i % 7 === 0 ? now : null,
        ]);
      }
    });
    await db.exec("INSERT INTO handoff_codes (code_hash, parent_hash, socket_id, return_path, expires_at) VALUES ('code', 'login', 'sck_1', '/d/abc?x=1', ?)", [now]);
    await db.exec("INSERT INTO login_transactions (id_hash, provider, code_verifier, nonce, return_to, expires_at) VALUES ('tx', 'oidc', 'verifier', NULL, 'https://grafana-abc123.example/', ?)", [now]);
    await db.exec("INSERT INTO signing_keys (kid, private_jwk, public_jwk, created_at) VALUES ('kid-1', '{\"d\":\"private\"}', '{\"kid\":\"kid-1\"}', ?)", [now]);
    await db.exec("INSERT INTO device_authorizations (device_hash, user_code, client_name, created_at, expires_at, status, user_id, account_id) VALUES ('dev', 'BCDF-GHJK', 'cli', ?, ?, 'approved', 'usr_1', ?)", [now, now, accountId]);
    for (let i = 0; i < 3; i++) {
      await db.exec("INSERT INTO audit_events (at, type, account_id, socket_id, actor, detail) VALUES (?, 'signin', ?, 'sck_1', 'alice@example.com', '{\"n\":1}')", [now + i, accountId]);
    }
    await db.exec('DELETE FROM audit_events WHERE id = 2'); // ids keep their gaps
  } finally {
    await db.close();
  }
}

async function tableRows(db: SqlDriver, table: string): Promise<unknown[]> {
  const columns = (await db.query<{ column_name: string }>('SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY column_name', [table])).map((r) => r.column_name);
  const rows = await db.query(`SELECT ${columns.join(', ')} FROM ${table} ORDER BY ${columns.join(', ')}`);
  return rows.map((row) => JSON.stringify(row));
}

test('migrate-store copies every table of an edge, sessions included, into an empty PostgreSQL database, row for row', async () => {
  const source = join(temp.dir, 'edge.db');
  await edgeDatabase(source);
  const target = await server.createDatabase();
  const withPassword = target.replace('postgres@', 'postgres:s3cret-pass@'); // trust auth: the password is only shown, or not
  const run = await runCli(['admin', 'migrate-store', '--from', source, '--to', withPassword, '--json'], {}, 60_000);
  assert.equal(run.code, 0, run.stderr.join('\n'));
  assert.ok(!run.stdout.join('\n').includes('s3cret'), 'the password is never printed');
  const result = JSON.parse(run.stdout.join('\n')) as { to: string; tables: Array<{ table: string; rows: number }> };
  assert.equal(result.to, target, 'the target is shown without its password');
  const order = result.tables.map((t) => t.table);
  assert.ok(order.indexOf('accounts') < order.indexOf('sockets') && order.indexOf('users') < order.indexOf('sessions'), `parents first: ${order.join(' ')}`);
  const counts = Object.fromEntries(result.tables.map((t) => [t.table, t.rows]));
  assert.equal(counts.sessions, SESSIONS);
  assert.equal(counts.api_tokens, 1);
  assert.equal(counts.local_passwords, 1);

  const sqlite = await openSql(source);
  const postgres = await openSql(target);
  try {
    for (const { table } of result.tables) {
      // SQLite's information_schema does not exist: read its column names through PostgreSQL's, which parity keeps equal.
      const columns = (await postgres.query<{ column_name: string }>('SELECT column_name FROM information_schema.columns WHERE table_name = ? ORDER BY column_name', [table])).map((r) => r.column_name);
      const select = `SELECT ${columns.join(', ')} FROM ${table} ORDER BY ${columns.join(', ')}`;
      const want = (await sqlite.query(select)).map((row) => JSON.stringify(row));
      assert.deepEqual(await tableRows(postgres, table), want, table);
    }
    const next = await postgres.one<{ id: number }>("INSERT INTO audit_events (at, type) VALUES (1, 'signout') RETURNING id");
    assert.equal(next?.id, 4, 'the audit log goes on after the largest copied id');
  } finally {
    await sqlite.close();
    await postgres.close();
  }
});

test('migrate-store refuses a target that already holds Postern data, and leaves it as it was', async () => {
  const source = join(temp.dir, 'second.db');
  await edgeDatabase(source);
  const target = await server.createDatabase();
  const first = await runCli(['admin', 'migrate-store', '--from', source, '--to', target], {}, 60_000);
  assert.equal(first.code, 0, first.stderr.join('\n'));
  assert.match(first.stdout.join('\n'), new RegExp(`copied ${SESSIONS + 12} rows in \\d+ tables from .*second\\.db to postgres://postgres@127\\.0\\.0\\.1:\\d+/t\\d+`));
  const again = await runCli(['admin', 'migrate-store', '--from', source, '--to', target], {}, 60_000);
  assert.equal(again.code, 1);
  assert.equal(again.stderr.length, 1, again.stderr.join('\n'));
  assert.match(again.stderr[0]!, /already holds Postern data \(accounts: 1, users: 1, .*sessions: 1201.*\); migrate-store copies only into an empty database/);
  const postgres = await openSql(target);
  try {
    assert.equal((await postgres.one<{ n: number }>('SELECT COUNT(*) AS n FROM sessions'))?.n, SESSIONS);
  } finally {
    await postgres.close();
  }
});

test('migrate-store explains a missing source, a target that is not a URL, and a server that does not answer, in one line each', async () => {
  const missing = await runCli(['admin', 'migrate-store', '--from', join(temp.dir, 'nope.db'), '--to', server.url()]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr.join('\n'), /no SQLite database at .*nope\.db/);
  const notUrl = await runCli(['admin', 'migrate-store', '--from', join(temp.dir, 'edge.db'), '--to', './other.db']);
  assert.equal(notUrl.code, 1);
  assert.match(notUrl.stderr.join('\n'), /--to must be a postgres:\/\/ URL \(got "\.\/other\.db"\)/);
  const down = await runCli(['admin', 'migrate-store', '--from', join(temp.dir, 'edge.db'), '--to', 'postgres://postgres:hunter2@127.0.0.1:1/postern']);
  assert.equal(down.code, 1);
  assert.equal(down.stderr.length, 1, down.stderr.join('\n'));
  assert.match(down.stderr[0]!, /cannot open postgres:\/\/postgres@127\.0\.0\.1:1\/postern: .*ECONNREFUSED/);
  assert.ok(!down.stderr[0]!.includes('hunter2'));
});
