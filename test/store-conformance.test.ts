import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { decodeProtectedHeader, exportJWK, generateKeyPair } from 'jose';
import { LabelTakenError, SessionStore, SocketStore, TokenStore } from '@postern/edge';
import { createCluster, ensureSigningKeys, type Change, type ChangeFeed, type Cluster } from '@postern/edge/cluster';
import { isPostgresUrl, migrationsFor, openSql, PostgresDriver, SqlError, SqliteDriver, type SqlDriver } from '@postern/edge/sql';
import {
  AccountStore,
  AssertionSigner,
  AuditStore,
  ConsentStore,
  DeviceStore,
  ExpiredRowPruner,
  IdpGrantStore,
  LogoutTokenIdStore,
  PasswordStore,
  SigningKeyStore,
  TransactionStore,
  TunnelStore,
  UserStore,
} from '@postern/edge/tables';
import { PostgresServer } from './lib/postgres.js';
import { pollUntil } from './lib/wait.js';

/**
 * One suite, two backends: every case runs against SQLite (two connections to one file stand for
 * two processes) and against a real PostgreSQL server (two pools stand for two edges).
 */

const dir = mkdtempSync(join(tmpdir(), 'postern-conformance-'));
let server: PostgresServer;
const opened: SqlDriver[] = [];
const clusters: Cluster[] = [];

before(async () => {
  server = await PostgresServer.start();
});

after(async () => {
  await Promise.all(clusters.splice(0).map((cluster) => cluster.stop()));
  await Promise.all(opened.splice(0).map((db) => db.close()));
  await server?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

let files = 0;
const backends: ReadonlyArray<{ name: string; fresh: () => Promise<string> }> = [
  { name: 'sqlite', fresh: async () => join(dir, `db${++files}.sqlite`) },
  { name: 'postgres', fresh: () => server.createDatabase() },
];

/** A migrated connection to the database at `target` (another "edge" when called again). */
async function connect(target: string): Promise<SqlDriver> {
  const db = await openSql(target);
  opened.push(db);
  return db;
}

/** A connection that has not migrated anything. */
function connectRaw(target: string): SqlDriver {
  const db = isPostgresUrl(target) ? new PostgresDriver(target) : SqliteDriver.open(target);
  opened.push(db);
  return db;
}

const BIG_TIME = 1_796_147_924_161; // past 2^31: a millisecond timestamp

async function addAccount(db: SqlDriver, email: string): Promise<string> {
  const id = `acc_${email.split('@')[0]}`;
  await db.exec('INSERT INTO accounts (id, email, publisher, created_at) VALUES (?, ?, ?, ?)', [id, email, 1, BIG_TIME]);
  return id;
}

async function addSocket(db: SqlDriver, accountId: string, hostname: string): Promise<string> {
  const id = `sck_${hostname}`;
  await db.exec('INSERT INTO sockets (id, account_id, name, hostname, protocol, created_at) VALUES (?, ?, ?, ?, ?, ?)', [id, accountId, hostname, hostname, 'http', BIG_TIME]);
  return id;
}

/** The single-use shape every consume takes: one statement decides who gets the row. */
const consumeCode = (db: SqlDriver, codeHash: string) =>
  db.one<{ parent_hash: string; socket_id: string }>('DELETE FROM handoff_codes WHERE code_hash = ? RETURNING parent_hash, socket_id', [codeHash]);

/** The create-or-find shape: the insert either makes the row or does nothing, and the row is read. */
async function ensureAccount(db: SqlDriver, email: string, id: string): Promise<string> {
  const made = await db.one<{ id: string }>('INSERT INTO accounts (id, email, publisher, created_at) VALUES (?, ?, 1, ?) ON CONFLICT DO NOTHING RETURNING id', [id, email, Date.now()]);
  return made?.id ?? (await db.one<{ id: string }>('SELECT id FROM accounts WHERE email = ?', [email]))!.id;
}

/** The cluster's change feed on `db` (PostgreSQL: rows and NOTIFY), recording what committed. */
function recordingFeed(db: SqlDriver): { feed: ChangeFeed; heard: Change[] } {
  const real = createCluster(db, { edgeId: 'edge_test', advertiseUrl: '' }).changes;
  const heard: Change[] = [];
  const feed: ChangeFeed = {
    ...real,
    publish: async (tx, change) => {
      await real.publish(tx, change);
      tx.afterCommit(() => heard.push(change));
    },
    subscribe: (listener) => real.subscribe(listener),
    start: () => real.start(),
    stop: () => real.stop(),
  };
  return { feed, heard };
}

for (const backend of backends) {
  describe(`store conformance: ${backend.name}`, () => {
    test('parameters bind alike: a ? inside a literal is text, big integers come back as numbers, null and Unicode survive', async () => {
      const db = await connect(await backend.fresh());
      const row = await db.one<{ q: string; quoted: string; v: string; n: number; empty: null }>(
        "SELECT '?' AS q, 'it''s ?' AS quoted, ? AS v, CAST(? AS BIGINT) AS n, ? AS empty",
        ['Grüße 🚪', BIG_TIME, null],
      );
      assert.deepEqual(row, { q: '?', quoted: "it's ?", v: 'Grüße 🚪', n: BIG_TIME, empty: null });
      await addAccount(db, 'ann@example.com');
      const stored = await db.one<{ created_at: unknown; publisher: unknown }>('SELECT created_at, publisher FROM accounts WHERE email = ?', ['ann@example.com']);
      assert.deepEqual(stored, { created_at: BIG_TIME, publisher: 1 });
      const count = await db.one<{ n: unknown }>('SELECT COUNT(*) AS n FROM accounts');
      assert.equal(count?.n, 1);
    });

    test('exec counts the rows it changed; DELETE … RETURNING hands back exactly what it deleted', async () => {
      const db = await connect(await backend.fresh());
      await addAccount(db, 'a@example.com');
      await addAccount(db, 'b@example.com');
      assert.equal(await db.exec('UPDATE accounts SET publisher = 0 WHERE publisher = 1'), 2);
      assert.equal(await db.exec('UPDATE accounts SET publisher = 0 WHERE email = ?', ['nobody@example.com']), 0);
      const gone = await db.query<{ email: string }>('DELETE FROM accounts WHERE email = ? RETURNING email', ['a@example.com']);
      assert.deepEqual(gone, [{ email: 'a@example.com' }]);
      assert.deepEqual(await db.query('DELETE FROM accounts WHERE email = ? RETURNING email', ['a@example.com']), []);
      assert.equal(await db.one('SELECT id FROM accounts WHERE email = ?', ['a@example.com']), undefined);
    });

    test('a transaction commits whole or not at all; a write made outside it meanwhile is neither lost nor rolled back with it', async () => {
      const db = await connect(await backend.fresh());
      await db.transaction(async (tx) => {
        await tx.exec('INSERT INTO accounts (id, email, created_at) VALUES (?, ?, ?)', ['acc_1', 'one@example.com', 1]);
        await tx.exec('INSERT INTO accounts (id, email, created_at) VALUES (?, ?, ?)', ['acc_2', 'two@example.com', 2]);
      });
      let outside: Promise<number> | undefined;
      await assert.rejects(
        db.transaction(async (tx) => {
          await tx.exec('INSERT INTO accounts (id, email, created_at) VALUES (?, ?, ?)', ['acc_3', 'three@example.com', 3]);
          outside = db.exec('INSERT INTO accounts (id, email, created_at) VALUES (?, ?, ?)', ['acc_4', 'four@example.com', 4]);
          await tx.exec('INSERT INTO accounts (id, email, created_at) VALUES (?, ?, ?)', ['acc_5', 'five@example.com', 5]);
          throw new Error('changed my mind');
        }),
        /changed my mind/,
      );
      assert.equal(await outside, 1);
      const emails = (await db.query<{ email: string }>('SELECT email FROM accounts ORDER BY created_at')).map((r) => r.email);
      assert.deepEqual(emails, ['one@example.com', 'two@example.com', 'four@example.com']);
    });

    test('afterCommit hooks run once the transaction committed, never after a rollback; a handle used after the end is refused', async () => {
      const db = await connect(await backend.fresh());
      const ran: string[] = [];
      let leaked: Parameters<Parameters<SqlDriver['transaction']>[0]>[0] | undefined;
      await db.transaction(async (tx) => {
        leaked = tx;
        tx.afterCommit(() => ran.push('committed'));
        await tx.exec('INSERT INTO accounts (id, email, created_at) VALUES (?, ?, ?)', ['acc_1', 'one@example.com', 1]);
        assert.deepEqual(ran, [], 'not before the commit');
      });
      await assert.rejects(
        db.transaction(async (tx) => {
          tx.afterCommit(() => ran.push('rolled back'));
          await tx.exec('INSERT INTO accounts (id, email, created_at) VALUES (?, ?, ?)', ['acc_1', 'dup@example.com', 1]);
        }),
        (err: unknown) => err instanceof SqlError && err.kind === 'unique',
      );
      assert.deepEqual(ran, ['committed']);
      await assert.rejects(leaked!.query('SELECT 1 AS one'), /after the transaction ended/);
    });

    test('constraint failures come back as typed kinds: unique, foreign_key, check, not_null', async () => {
      const db = await connect(await backend.fresh());
      const accountId = await addAccount(db, 'owner@example.com');
      const kind = async (sql: string, params: readonly (string | number | null)[]) => {
        const err = await db.exec(sql, params).then(
          () => undefined,
          (e: unknown) => e,
        );
        assert.ok(err instanceof SqlError, `expected a SqlError from ${sql}, got ${String(err)}`);
        return err.kind;
      };
      assert.equal(await kind('INSERT INTO accounts (id, email, created_at) VALUES (?, ?, ?)', ['acc_x', 'owner@example.com', 1]), 'unique');
      assert.equal(await kind('INSERT INTO sockets (id, account_id, name, hostname, protocol, created_at) VALUES (?, ?, ?, ?, ?, ?)', ['s1', 'acc_nobody', 'n', 'h1', 'http', 1]), 'foreign_key');
      assert.equal(await kind('INSERT INTO sockets (id, account_id, name, hostname, protocol, created_at) VALUES (?, ?, ?, ?, ?, ?)', ['s2', accountId, 'n', 'h2', 'gopher', 1]), 'check');
      assert.equal(
        await kind('INSERT INTO sockets (id, account_id, name, hostname, protocol, created_at, max_body_bytes) VALUES (?, ?, ?, ?, ?, ?, ?)', ['s3', accountId, 'n', 'h3', 'http', 1, 0]),
        'check',
      );
      assert.equal(await kind('INSERT INTO accounts (id, email, created_at) VALUES (?, ?, ?)', ['acc_y', null, 1]), 'not_null');
    });

    test('an undefined or boolean parameter is refused before it reaches the engine, naming the statement', async () => {
      const db = await connect(await backend.fresh());
      await assert.rejects(db.query('SELECT ? AS v', [undefined as unknown as null]), /parameter 1 is undefined, not a SQL value, in: SELECT \? AS v/);
      await assert.rejects(db.exec('UPDATE accounts SET publisher = ?', [true as unknown as number]), /parameter 1 is boolean/);
    });

    test('three edges migrating an empty database at the same moment make one schema; a second run changes nothing', async () => {
      const target = await backend.fresh();
      const edges = [connectRaw(target), connectRaw(target), connectRaw(target)];
      const results = await Promise.all(edges.map((db) => db.migrate(migrationsFor(db))));
      const latest = migrationsFor(edges[0]!).length;
      assert.equal(results.filter((r) => r.from === 0).length, 1, `exactly one edge applied the migrations: ${JSON.stringify(results)}`);
      assert.ok(results.every((r) => r.to === latest));
      assert.ok(results.filter((r) => r.from !== 0).every((r) => r.from === latest), 'the others found it done');
      assert.deepEqual(await edges[1]!.migrate(migrationsFor(edges[1]!)), { from: latest, to: latest });
      await addAccount(edges[2]!, 'works@example.com');
      assert.equal((await edges[0]!.one<{ email: string }>('SELECT email FROM accounts'))?.email, 'works@example.com');
    });

    test('a database migrated by a newer Postern is refused with a clear message', async () => {
      const target = await backend.fresh();
      const db = await connect(target);
      const migrations = migrationsFor(db);
      await assert.rejects(db.migrate(migrations.slice(0, -1)), new RegExp(`schema version ${migrations.length} is newer than this Postern \\(${migrations.length - 1}\\); upgrade Postern`));
    });

    test('single-use codes: two edges consuming the same code at once, exactly one gets it (20 trials)', async () => {
      const target = await backend.fresh();
      const [a, b] = [await connect(target), await connect(target)];
      const socketId = await addSocket(a, await addAccount(a, 'owner@example.com'), 'app-x1');
      for (let trial = 0; trial < 20; trial++) {
        const code = `code-${trial}`;
        await a.exec('INSERT INTO handoff_codes (code_hash, parent_hash, socket_id, return_path, expires_at) VALUES (?, ?, ?, ?, ?)', [code, `parent-${trial}`, socketId, '/', BIG_TIME]);
        const results = await Promise.all([consumeCode(a, code), consumeCode(b, code)]);
        const winners = results.filter((r) => r !== undefined);
        assert.equal(winners.length, 1, `trial ${trial}: ${JSON.stringify(results)}`);
        assert.deepEqual(winners[0], { parent_hash: `parent-${trial}`, socket_id: socketId });
      }
    });

    test('hand-off codes (SessionStore): two edges redeeming one code at once, exactly one succeeds (20 trials)', async () => {
      const target = await backend.fresh();
      const [a, b] = [await connect(target), await connect(target)];
      const socketId = await addSocket(a, await addAccount(a, 'owner@example.com'), 'app-x1');
      const [edgeA, edgeB] = [a, b].map((db) => new SessionStore(db, recordingFeed(db).feed));
      for (let trial = 0; trial < 20; trial++) {
        const code = `handoff-${trial}`;
        await edgeA!.createCode(code, { parentHash: `parent-${trial}`, socketId, returnPath: `/r${trial}`, expiresAt: Date.now() + 60_000 });
        const results = await Promise.all([edgeA!.consumeCode(code), edgeB!.consumeCode(code)]);
        const winners = results.filter((r) => r !== undefined);
        assert.equal(winners.length, 1, `trial ${trial}: ${JSON.stringify(results)}`);
        assert.deepEqual(winners[0], { parentHash: `parent-${trial}`, socketId, returnPath: `/r${trial}` });
      }
      await edgeA!.createCode('late', { parentHash: 'p', socketId, returnPath: '/', expiresAt: Date.now() - 1 });
      assert.equal(await edgeB!.consumeCode('late'), undefined, 'an expired code redeems nothing');
    });

    test('revocations (sessions, tokens, sockets) return what they ended and publish each in their transaction', async () => {
      const target = await backend.fresh();
      const db = await connect(target);
      const { feed, heard } = recordingFeed(db);
      const accountId = await addAccount(db, 'owner@example.com');
      await db.exec('INSERT INTO users (id, issuer, subject, email, name, created_at, last_login_at) VALUES (?, ?, ?, ?, NULL, ?, ?)', ['usr_1', 'https://idp', 's', 'u@example.com', 1, 1]);
      const sessions = new SessionStore(db, feed);
      const sockets = new SocketStore(db, feed);
      const socket = await sockets.create({ accountId, name: 'app' });
      const login = await sessions.create('login', { userId: 'usr_1', socketId: null, parentHash: null, expiresAt: BIG_TIME });
      const child = await sessions.create('child', { userId: 'usr_1', socketId: socket.id, parentHash: login.idHash, expiresAt: BIG_TIME });
      await sessions.touch([login.idHash, child.idHash], BIG_TIME - 1);
      assert.equal((await sessions.find(child.idHash))?.lastSeenAt, BIG_TIME - 1);
      assert.deepEqual((await sessions.revokeTree(login.idHash)).sort(), [login.idHash, child.idHash].sort());
      assert.deepEqual(await sessions.revokeAllOfUser('usr_1'), [], 'already revoked: nothing ended, nothing published');
      const tokens = new TokenStore(db, feed);
      const { record: token } = await tokens.create(accountId, 'ci');
      assert.equal(await tokens.revoke(token.id), true);
      assert.equal(await tokens.revoke(token.id), false);
      await sockets.update(socket.id, { name: 'renamed' });
      assert.equal(await sockets.delete(socket.id), true);
      assert.deepEqual(heard.map((c) => c.topic), ['session', 'session', 'token', 'socket', 'socket']);
      assert.deepEqual(heard.slice(0, 2).map((c) => c.key).sort(), [login.idHash, child.idHash].sort());
    });

    test('socket creates: two edges creating one permanent name at once make one socket; the other is told it is taken', async () => {
      const target = await backend.fresh();
      const [a, b] = [await connect(target), await connect(target)];
      const accountId = await addAccount(a, 'owner@example.com');
      const [sa, sb] = [a, b].map((db) => new SocketStore(db, recordingFeed(db).feed));
      for (let trial = 0; trial < 10; trial++) {
        const results = await Promise.allSettled([sa!.create({ accountId, name: `app${trial}` }), sb!.create({ accountId, name: `app${trial}` })]);
        assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1, `trial ${trial}`);
        const refused = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
        assert.ok(refused?.reason instanceof LabelTakenError, String(refused?.reason));
      }
    });

    test("the old SELECT-then-DELETE shape hands a code to both consumers when their reads interleave (why consumes use DELETE … RETURNING)", async () => {
      const target = await backend.fresh();
      const [a, b] = [await connect(target), await connect(target)];
      const socketId = await addSocket(a, await addAccount(a, 'owner@example.com'), 'app-x1');
      await a.exec('INSERT INTO handoff_codes (code_hash, parent_hash, socket_id, return_path, expires_at) VALUES (?, ?, ?, ?, ?)', ['c', 'p', socketId, '/', BIG_TIME]);
      const read = await Promise.all([a, b].map((db) => db.one('SELECT * FROM handoff_codes WHERE code_hash = ?', ['c'])));
      await Promise.all([a, b].map((db) => db.exec('DELETE FROM handoff_codes WHERE code_hash = ?', ['c'])));
      assert.equal(read.filter((row) => row !== undefined).length, 2);
    });

    test('ON CONFLICT creates: two edges ensuring the same account at once make one row and both get its id (20 trials)', async () => {
      const target = await backend.fresh();
      const [a, b] = [await connect(target), await connect(target)];
      for (let trial = 0; trial < 20; trial++) {
        const email = `user${trial}@example.com`;
        const [idA, idB] = await Promise.all([ensureAccount(a, email, `acc_a${trial}`), ensureAccount(b, email, `acc_b${trial}`)]);
        assert.equal(idA, idB, `trial ${trial}`);
      }
      assert.equal((await a.one<{ n: number }>('SELECT COUNT(*) AS n FROM accounts'))?.n, 20);
      // The check-then-insert shape of today's accounts.ensure: both find nothing, one insert fails.
      const found = await Promise.all([a, b].map((db) => db.one('SELECT id FROM accounts WHERE email = ?', ['late@example.com'])));
      assert.deepEqual(found, [undefined, undefined]);
      const inserts = await Promise.allSettled([addAccount(a, 'late@example.com'), b.exec('INSERT INTO accounts (id, email, created_at) VALUES (?, ?, ?)', ['acc_other', 'late@example.com', 1])]);
      const failed = inserts.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      assert.equal(failed.length, 1);
      assert.ok(failed[0]!.reason instanceof SqlError && failed[0]!.reason.kind === 'unique');
    });

    test('ON CONFLICT … DO UPDATE refreshes a row in place: a user keeps its id across sign-ins from two edges', async () => {
      const target = await backend.fresh();
      const [a, b] = [await connect(target), await connect(target)];
      const upsert = (db: SqlDriver, id: string, email: string) =>
        db.exec(
          `INSERT INTO users (id, issuer, subject, email, name, created_at, last_login_at) VALUES (?, ?, ?, ?, NULL, ?, ?)
           ON CONFLICT (issuer, subject) DO UPDATE SET email = excluded.email, last_login_at = excluded.last_login_at`,
          [id, 'https://idp.example', 'sub-1', email, 1, 1],
        );
      await Promise.all([upsert(a, 'usr_a', 'first@example.com'), upsert(b, 'usr_b', 'second@example.com')]);
      await upsert(a, 'usr_c', 'third@example.com');
      const rows = await b.query<{ id: string; email: string }>('SELECT id, email FROM users');
      assert.equal(rows.length, 1);
      assert.ok(['usr_a', 'usr_b'].includes(rows[0]!.id));
      assert.equal(rows[0]!.email, 'third@example.com');
    });

    test('a transaction lock serialises read-modify-write across edges: 3 edges × 10 increments make 30', async () => {
      const target = await backend.fresh();
      const edges = [await connect(target), await connect(target), await connect(target)];
      await edges[0]!.exec('CREATE TABLE counter (n INTEGER NOT NULL)');
      await edges[0]!.exec('INSERT INTO counter (n) VALUES (0)');
      const increment = (db: SqlDriver) =>
        db.transaction(async (tx) => {
          await tx.lock('signing-keys');
          const { n } = (await tx.one<{ n: number }>('SELECT n FROM counter'))!;
          await new Promise((resolve) => setImmediate(resolve)); // let the others run between read and write
          await tx.exec('UPDATE counter SET n = ?', [n + 1]);
        });
      await Promise.all(edges.map(async (db) => {
        for (let i = 0; i < 10; i++) await increment(db);
      }));
      assert.equal((await edges[1]!.one<{ n: number }>('SELECT n FROM counter'))?.n, 30);
    });

    test('three edges starting together on an empty database make one signing key and all list it', async () => {
      const target = await backend.fresh();
      const edges = [await connect(target), await connect(target), await connect(target)];
      let made = 0;
      const generate = async () => {
        made++;
        const kid = `kid-${made}`;
        return { kid, privateJwk: JSON.stringify({ kid, d: 'secret' }), publicJwk: JSON.stringify({ kid }) };
      };
      const lists = await Promise.all(edges.map((db) => ensureSigningKeys(db, generate)));
      assert.equal(made, 1);
      assert.ok(lists.every((keys) => keys.length === 1 && keys[0]!.kid === 'kid-1'));
      assert.equal((await edges[2]!.one<{ n: number }>('SELECT COUNT(*) AS n FROM signing_keys'))?.n, 1);
    });

    test('postern_now_ms() is the database clock in milliseconds; ping answers until the driver is closed', async () => {
      const db = connectRaw(await backend.fresh());
      await db.migrate(migrationsFor(db));
      const before = Date.now();
      const now = (await db.one<{ now: number }>('SELECT postern_now_ms() AS now'))!.now;
      assert.equal(typeof now, 'number');
      assert.ok(Math.abs(now - before) < 5_000, `${now} vs ${before}`);
      assert.equal(await db.ping(), true);
      await db.close();
      assert.equal(await db.ping(), false);
      await assert.rejects(db.query('SELECT 1'), (err: unknown) => err instanceof SqlError && err.kind === 'unavailable');
    });
  });
}

describe('schema parity', () => {
  type Column = { table: string; name: string; type: string; notnull: boolean; dflt: string | null };

  async function sqliteShape(db: SqlDriver) {
    const tables = (await db.query<{ name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name")).map((r) => r.name);
    const columns: Column[] = [];
    const uniques: string[] = [];
    const fks: string[] = [];
    for (const table of tables) {
      const info = await db.query<{ name: string; type: string; notnull: number; pk: number; dflt_value: string | null }>('SELECT * FROM pragma_table_info(?)', [table]);
      for (const c of info) columns.push({ table, name: c.name, type: c.type.toLowerCase(), notnull: c.notnull === 1 || c.pk > 0, dflt: c.dflt_value });
      const pk = info.filter((c) => c.pk > 0).map((c) => c.name);
      if (pk.length > 0) uniques.push(`${table}(${pk.sort().join(',')})`);
      for (const index of await db.query<{ name: string; unique: number }>('SELECT name, "unique" FROM pragma_index_list(?)', [table])) {
        if (index.unique !== 1) continue;
        const cols = (await db.query<{ name: string }>('SELECT name FROM pragma_index_info(?)', [index.name])).map((r) => r.name);
        uniques.push(`${table}(${cols.sort().join(',')})`);
      }
      for (const fk of await db.query<{ from: string; table: string; to: string; on_delete: string }>('SELECT * FROM pragma_foreign_key_list(?)', [table])) {
        fks.push(`${table}.${fk.from} -> ${fk.table}.${fk.to} ON DELETE ${fk.on_delete.toLowerCase()}`);
      }
    }
    return { tables, columns, uniques: [...new Set(uniques)].sort(), fks: fks.sort() };
  }

  async function postgresShape(db: SqlDriver, tables: readonly string[]) {
    const names = (await db.query<{ table_name: string }>("SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name")).map((r) => r.table_name);
    const columns: Column[] = [];
    for (const table of tables) {
      const info = await db.query<{ column_name: string; data_type: string; is_nullable: string; column_default: string | null }>(
        "SELECT column_name, data_type, is_nullable, column_default FROM information_schema.columns WHERE table_schema = 'public' AND table_name = ? ORDER BY ordinal_position",
        [table],
      );
      for (const c of info) {
        columns.push({
          table,
          name: c.column_name,
          type: c.data_type === 'bigint' ? 'integer' : c.data_type,
          notnull: c.is_nullable === 'NO',
          dflt: c.column_default?.replace(/::(text|bigint|integer)$/, '') ?? null,
        });
      }
    }
    const uniques = await db.query<{ key: string }>(
      `SELECT t.relname || '(' || string_agg(a.attname, ',' ORDER BY a.attname) || ')' AS key
       FROM pg_index i JOIN pg_class t ON t.oid = i.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace
       JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ANY (i.indkey)
       WHERE i.indisunique AND n.nspname = 'public' AND NOT (0 = ANY (i.indkey)) GROUP BY t.relname, i.indexrelid`,
    );
    const fks = await db.query<{ fk: string }>(
      `SELECT cl.relname || '.' || a.attname || ' -> ' || ref.relname || '.' || ra.attname || ' ON DELETE ' ||
         CASE c.confdeltype WHEN 'c' THEN 'cascade' WHEN 'a' THEN 'no action' ELSE c.confdeltype::text END AS fk
       FROM pg_constraint c JOIN pg_class cl ON cl.oid = c.conrelid JOIN pg_class ref ON ref.oid = c.confrelid
       JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = c.conkey[1]
       JOIN pg_attribute ra ON ra.attrelid = c.confrelid AND ra.attnum = c.confkey[1]
       WHERE c.contype = 'f'`,
    );
    const shared = new Set(tables);
    return {
      tables: names.filter((n) => !n.startsWith('cluster_') && n !== 'schema_migrations'),
      columns,
      uniques: uniques.map((r) => r.key).filter((k) => shared.has(k.slice(0, k.indexOf('(')))).sort(),
      fks: fks.map((r) => r.fk).filter((k) => shared.has(k.slice(0, k.indexOf('.')))).sort(),
    };
  }

  test('the PostgreSQL schema matches the SQLite schema at its latest version: tables, columns, types, nullability, defaults, unique keys, foreign keys', async () => {
    const sqlite = await connect(join(dir, 'parity.sqlite'));
    const postgres = await connect(await server.createDatabase());
    const want = await sqliteShape(sqlite);
    const got = await postgresShape(postgres, want.tables);
    assert.deepEqual(got.tables, want.tables, 'the same tables (cluster_* and schema_migrations are PostgreSQL-only)');
    const byKey = (cols: Column[]) => new Map(cols.map((c) => [`${c.table}.${c.name}`, c]));
    const wantCols = byKey(want.columns);
    const gotCols = byKey(got.columns);
    assert.deepEqual([...gotCols.keys()].sort(), [...wantCols.keys()].sort(), 'the same columns');
    for (const [key, column] of wantCols) {
      const other = gotCols.get(key)!;
      assert.deepEqual({ type: other.type, notnull: other.notnull }, { type: column.type, notnull: column.notnull }, key);
      // An identity column has no default in information_schema; SQLite's AUTOINCREMENT has none either.
      assert.equal(other.dflt, column.dflt, `${key} default`);
    }
    assert.deepEqual(got.uniques, want.uniques, 'unique keys');
    assert.deepEqual(got.fks, want.fks, 'foreign keys');
  });
});

/** This process as an edge of the cluster on `db` (on SQLite: one edge, in memory). */
async function edgeOn(db: SqlDriver, name: string): Promise<Cluster> {
  const cluster = createCluster(db, { edgeId: `edge_${name}_${++files}`, advertiseUrl: '' });
  await cluster.start();
  clusters.push(cluster);
  return cluster;
}

const identity = (subject: string, email: string | null, groups: string[] = []) => ({ issuer: 'https://idp.example', subject, email, name: null, groups, githubOrgs: [], githubTeams: [] });

for (const backend of backends) {
  describe(`table modules: ${backend.name}`, () => {
    test('accounts.ensure: two edges ensuring one email at once both get the one row, exactly one made it (20 trials); lookups ignore case; publisher promotes, never demotes', async () => {
      const target = await backend.fresh();
      const [a, b] = [new AccountStore(await connect(target)), new AccountStore(await connect(target))];
      for (let trial = 0; trial < 20; trial++) {
        const [x, y] = await Promise.all([a.ensure(`Person${trial}@Example.com`, { publisher: false }), b.ensure(`person${trial}@example.COM`, { publisher: false })]);
        assert.equal(x.account.id, y.account.id, `trial ${trial}`);
        assert.equal([x, y].filter((r) => r.created).length, 1, `trial ${trial}: one of them made it`);
        assert.equal(x.account.email, `person${trial}@example.com`, 'stored lower-case');
      }
      const db = await connect(target);
      assert.equal((await db.one<{ n: number }>('SELECT COUNT(*) AS n FROM accounts'))?.n, 20);
      assert.equal((await b.findByEmail('PERSON3@example.com'))?.email, 'person3@example.com');
      assert.equal((await a.ensure('person3@example.com')).account.publisher, true, 'admin user add promotes');
      assert.equal((await b.ensure('person3@example.com', { publisher: false })).account.publisher, true, 'never demoted');
      assert.equal((await a.findById((await a.findByEmail('person3@example.com'))!.id))?.publisher, true);
    });

    test('login transactions: consumed by two edges at once, exactly one gets it (20 trials); an expired one is nobody’s', async () => {
      const target = await backend.fresh();
      const [a, b] = [new TransactionStore(await connect(target)), new TransactionStore(await connect(target))];
      for (let trial = 0; trial < 20; trial++) {
        await a.create(`tx-${trial}`, { provider: 'corp', secrets: { codeVerifier: 'v', nonce: 'n' }, returnTo: '/there' }, 60_000);
        const results = await Promise.all([a.consume(`tx-${trial}`), b.consume(`tx-${trial}`)]);
        const winners = results.filter((r) => r !== undefined);
        assert.equal(winners.length, 1, `trial ${trial}: ${JSON.stringify(results)}`);
        assert.deepEqual(winners[0], { provider: 'corp', secrets: { codeVerifier: 'v', nonce: 'n' }, returnTo: '/there' });
      }
      await a.create('old', { provider: 'local', secrets: {}, returnTo: '/' }, -1_000);
      assert.equal(await b.consume('old'), undefined);
    });

    test('device codes: answered once; two polls of an approved code at once, exactly one takes it (20 trials)', async () => {
      const target = await backend.fresh();
      const db = await connect(target);
      const accountId = await addAccount(db, 'owner@example.com');
      const userId = (await new UserStore(db).upsert(identity('sub-1', 'owner@example.com'))).id;
      const [a, b] = [new DeviceStore(db), new DeviceStore(await connect(target))];
      for (let trial = 0; trial < 20; trial++) {
        const code = `device-code-${trial}`;
        const auth = await a.create(code, { clientName: 'laptop', remote: null, ttlMs: 60_000 });
        assert.equal(await b.settle(code), undefined, 'pending: nothing to take');
        const answers = await Promise.all([a.answer(auth.userCode, { status: 'denied' }), b.answer(auth.userCode, { status: 'approved', userId, accountId })]);
        assert.equal(answers.filter((r) => r !== undefined).length, 1, `trial ${trial}: one answer stands`);
        const taken = (await Promise.all([a.settle(code), b.settle(code)])).filter((r) => r !== undefined);
        assert.equal(taken.length, 1, `trial ${trial}`);
        assert.equal(taken[0]!.status, answers.find((r) => r !== undefined)!.status);
      }
      const late = await a.create('late', { clientName: 'laptop', remote: null, ttlMs: 1_000 });
      assert.equal(await b.answer(late.userCode, { status: 'denied' }, Date.now() + 2_000), undefined, 'an expired code takes no answer');
      assert.equal((await b.settle('late', Date.now() + 2_000))?.status, 'pending', 'an expired code is taken to be refused');
    });

    test('back-channel logout token ids: two edges given one token at once, exactly one accepts it', async () => {
      const target = await backend.fresh();
      const [a, b] = [new LogoutTokenIdStore(await connect(target)), new LogoutTokenIdStore(await connect(target))];
      for (let trial = 0; trial < 20; trial++) {
        const results = await Promise.all([a.remember('https://idp.example', `jti-${trial}`, BIG_TIME), b.remember('https://idp.example', `jti-${trial}`, BIG_TIME)]);
        assert.deepEqual(results.sort(), [false, true], `trial ${trial}`);
      }
      assert.equal(await a.remember('https://other.example', 'jti-0', BIG_TIME), true, 'per issuer');
    });

    test('users, passwords, consents and IdP grants: one user per identity across edges; a due grant is claimed by one edge; a device link is used once', async () => {
      const target = await backend.fresh();
      const [dbA, dbB] = [await connect(target), await connect(target)];
      const [usersA, usersB] = [new UserStore(dbA), new UserStore(dbB)];
      const [x, y] = await Promise.all([usersA.upsert(identity('sub-1', 'bob@example.com', ['dev'])), usersB.upsert(identity('sub-1', 'bob@example.com', ['ops']))]);
      assert.equal(x.id, y.id);
      assert.deepEqual((await usersA.refresh(x.id, identity('sub-1', 'bob@example.com', ['admins'])))?.groups, ['admins']);
      assert.equal((await usersB.latestByEmail('bob@example.com'))?.id, x.id);
      const accountId = await addAccount(dbA, 'bob@example.com');
      const passwords = new PasswordStore(dbA);
      await passwords.set(accountId, 'scrypt$1');
      await passwords.set(accountId, 'scrypt$2');
      assert.equal(await new PasswordStore(dbB).get(accountId), 'scrypt$2');
      const socketId = await addSocket(dbA, accountId, 'app-x1');
      const consents = new ConsentStore(dbA);
      assert.deepEqual(await Promise.all([consents.grant(x.id, socketId), new ConsentStore(dbB).grant(x.id, socketId)]).then((r) => r.sort()), [false, true]);
      assert.equal(await consents.has(x.id, socketId), true);
      assert.equal(await consents.revoke(x.id, socketId), true);
      assert.deepEqual(await consents.listByUser(x.id), []);

      const [grantsA, grantsB] = [new IdpGrantStore(dbA), new IdpGrantStore(dbB)];
      const now = Date.now();
      const grant = await grantsA.create({ id: IdpGrantStore.newId(), loginHash: 'login-1', userId: x.id, provider: 'corp', sid: 'sid-1', sealed: 'jwe', revalidateAt: now - 1 });
      const [due] = await grantsB.due(now, 10);
      assert.equal(due?.id, grant.id);
      assert.deepEqual((await Promise.all([grantsA.claim(due!, now + 60_000), grantsB.claim(due!, now + 60_000)])).sort(), [false, true], 'one edge re-validates it');
      assert.deepEqual((await grantsB.matching('corp', { sid: 'sid-1' })).map((g) => g.id), [grant.id]);
      assert.deepEqual((await grantsB.matching('corp', { subject: 'sub-1' })).map((g) => g.id), [grant.id]);
      assert.equal(await grantsA.held(grant, now, 3600_000), false, 'no session, no token rests on it');
      const tokenId = 'tok_1';
      await dbA.exec('INSERT INTO api_tokens (id, account_id, prefix, hash, created_at, user_id) VALUES (?, ?, ?, ?, ?, ?)', [tokenId, accountId, 'pst_', 'h1', now, x.id]);
      await grantsA.linkDevice('device-1', grant.id, now + 60_000);
      await Promise.all([grantsA.linkTokenOfDevice('device-1', tokenId), grantsB.linkTokenOfDevice('device-1', 'tok_none')]);
      assert.deepEqual(await grantsB.liveTokens(grant.id), [tokenId], 'the link is used once, by the token minted first');
      assert.equal(await grantsB.held(grant, now, 3600_000), true);
      assert.deepEqual(await grantsB.liveTokensOfUser(x.id, now), [tokenId]);
      await grantsB.remove(grant.id);
      assert.equal(await grantsA.findById(grant.id), undefined);
    });

    test('audit: a batch keeps its order; filters by socket (or none) and time; accesses for policy diff; pruning', async () => {
      const db = await connect(await backend.fresh());
      const audit = new AuditStore(db);
      await audit.append(
        { type: 'socket.create', accountId: 'acc1', socketId: 's1', at: 1000 },
        { type: 'access.denied', accountId: 'acc1', socketId: 's1', at: 2000, actor: 'eve@x.com', detail: { reason: 'not allowed', path: '/' } },
        { type: 'access.allowed', accountId: 'acc1', socketId: 's1', at: 2000, actor: null, detail: { path: '/' } },
        { type: 'socket.create', accountId: 'acc1', socketId: 's2', at: BIG_TIME },
      );
      assert.deepEqual((await audit.list({ accountId: 'acc1', limit: 10 })).map((e) => e.type), ['socket.create', 'access.allowed', 'access.denied', 'socket.create']);
      assert.deepEqual((await audit.list({ accountId: 'acc1', socketId: 's2', limit: 10 })).map((e) => e.at), [BIG_TIME]);
      assert.equal((await audit.list({ accountId: 'acc1', since: 1500, limit: 2 })).length, 2);
      assert.deepEqual((await audit.accessesOf('s1', 0, 10)).map((e) => [e.type, e.detail]), [['access.denied', { reason: 'not allowed', path: '/' }], ['access.allowed', { path: '/' }]]);
      assert.equal(await audit.pruneBefore(2500), 3);
    });

    test('tunnels: a delete is published as a tunnel change (heard once committed); the pruner deletes only what can never be used', async () => {
      const db = await connect(await backend.fresh());
      const cluster = await edgeOn(db, 'tunnels');
      const accountId = await addAccount(db, 'owner@example.com');
      const socketId = await addSocket(db, accountId, 'app-x1');
      const tunnels = new TunnelStore(db, cluster.changes);
      const tunnel = await tunnels.create({ socketId, accountId, name: 'nas' });
      await tunnels.markConnected(tunnel.id, BIG_TIME);
      assert.equal((await tunnels.findById(tunnel.id))?.lastConnectedAt, BIG_TIME);
      assert.deepEqual((await tunnels.listByAccount(accountId)).map((t) => t.id), [tunnel.id]);
      const heard: string[] = [];
      cluster.changes.subscribe((event) => event.type === 'change' && event.change.topic === 'tunnel' && heard.push(event.change.key));
      assert.equal(await tunnels.delete(tunnel.id), true);
      assert.equal(await tunnels.delete(tunnel.id), false, 'nothing to delete, nothing published');
      await pollUntil(async () => (heard.length > 0 ? true : undefined), { timeoutMs: 5_000, what: 'the tunnel change' });
      assert.deepEqual(heard, [tunnel.id]);

      const now = Date.now();
      await new TransactionStore(db).create('old', { provider: 'local', secrets: {}, returnTo: '/' }, -60_000);
      await new TransactionStore(db).create('live', { provider: 'local', secrets: {}, returnTo: '/' }, 60_000);
      await new LogoutTokenIdStore(db).remember('https://idp.example', 'jti-old', now - 1);
      await new AuditStore(db).append({ type: 'signin', at: now - 100 * 24 * 3600_000 }, { type: 'signin', at: now });
      const counts = await new ExpiredRowPruner(db, 3600_000).prune(now);
      assert.deepEqual(counts, { sessions: 0, transactions: 1, handoffCodes: 0, deviceCodes: 0, deviceLinks: 0, logoutTokenIds: 1, auditEvents: 1 });
      assert.equal((await db.one<{ n: number }>('SELECT COUNT(*) AS n FROM login_transactions'))?.n, 1);
    });

    test('signing keys: edges starting together make one key; a key added later is signed with and listed everywhere after its change', async () => {
      const target = await backend.fresh();
      const [dbA, dbB] = [await connect(target), await connect(target)];
      const cluster = await edgeOn(dbA, 'keys');
      const [signerA, signerB] = await Promise.all([
        AssertionSigner.load(new SigningKeyStore(dbA), cluster.changes, 'https://edge.example'),
        AssertionSigner.load(new SigningKeyStore(dbB), (await edgeOn(dbB, 'keys-b')).changes, 'https://edge.example'),
      ]);
      assert.equal(signerA.jwks.keys.length, 1);
      assert.deepEqual(signerB.jwks, signerA.jwks, 'one key, listed by both');
      const [first] = signerA.jwks.keys;
      // A second key (a rotation), written and announced in one transaction.
      const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
      const kid = 'kid-2';
      await dbA.transaction(async (tx) => {
        await tx.exec('INSERT INTO signing_keys (kid, private_jwk, public_jwk, created_at) VALUES (?, ?, ?, ?)', [
          kid,
          JSON.stringify({ ...(await exportJWK(privateKey)), kid, alg: 'ES256' }),
          JSON.stringify({ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' }),
          Date.now() + 1_000,
        ]);
        await cluster.changes.publish(tx, { topic: 'signing-keys', key: kid });
      });
      await pollUntil(async () => (signerA.jwks.keys.length === 2 ? true : undefined), { timeoutMs: 5_000, what: 'the JWKS to list the new key' });
      assert.deepEqual(signerA.jwks.keys.map((k) => k.kid), [kid, first!.kid], 'newest first, the old one still listed');
      const token = await signerA.assertion('session-1', 'https://app-x1.edge.example', { sub: 'u', email: null, name: null, groups: [] });
      assert.equal(decodeProtectedHeader(token).kid, kid, 'signed with the newest key');
      // Another edge hears of it through the feed (on SQLite there is no other edge).
      if (backend.name === 'postgres') await pollUntil(async () => (signerB.jwks.keys.length === 2 ? true : undefined), { timeoutMs: 5_000, what: 'the other edge to list the new key' });
    });
  });
}
