import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import {
  createCluster,
  PostgresChangeFeed,
  PostgresEdgeLease,
  PostgresJobLease,
  PostgresPresence,
  SingletonJob,
  type Change,
  type Cluster,
  type FeedEvent,
  type FeedTiming,
  type LeaseTiming,
} from '@postern/edge/cluster';
import { openSql, PostgresDriver } from '@postern/edge/sql';
import { PostgresServer } from './lib/postgres.js';
import { pollUntil, withTimeout } from './lib/wait.js';

/** The cluster building blocks against a real PostgreSQL server, outages included. */

let server: PostgresServer;
const cleanups: Array<() => Promise<unknown>> = [];

before(async () => {
  server = await PostgresServer.start();
});

after(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  await server?.destroy();
});

/** Short timings so that expiry is seen in a test, with room for a loaded machine (ten renewals per TTL). */
const LEASE: LeaseTiming = { ttlMs: 3_000, renewEveryMs: 300 };
const FEED: FeedTiming = { pollMs: 300, gapGiveUpMs: 5_000, retentionMs: 60_000, reconnectMaxMs: 500 };

async function edgeDb(target: string): Promise<PostgresDriver> {
  const db = (await openSql(target)) as PostgresDriver;
  cleanups.push(() => db.close());
  return db;
}

async function startCluster(target: string, edgeId: string, feed: FeedTiming = FEED): Promise<Cluster> {
  const cluster = createCluster(await edgeDb(target), { edgeId, advertiseUrl: `https://${edgeId}.internal:9443` }, { lease: LEASE, feed, pruneEveryMs: 60_000 });
  await cluster.start();
  cleanups.push(() => cluster.stop());
  return cluster;
}

/** Collects a feed's changes; `next(key)` waits for one. */
function recorder(feed: { subscribe(listener: (event: FeedEvent) => void): () => void }) {
  const seen: Change[] = [];
  const waiters = new Set<() => void>();
  feed.subscribe((event) => {
    if (event.type !== 'change') return;
    seen.push(event.change);
    for (const wake of waiters) wake();
  });
  const has = (key: string) => seen.some((c) => c.key === key);
  return {
    seen,
    has,
    next: (key: string, timeoutMs = 5_000) =>
      withTimeout(
        new Promise<void>((resolve) => {
          if (has(key)) return resolve();
          const wake = () => {
            if (has(key)) {
              waiters.delete(wake);
              resolve();
            }
          };
          waiters.add(wake);
        }),
        timeoutMs,
        `change ${key}`,
      ),
  };
}

test('an edge lease is a row renewed on the database clock; the others see the edge live, and gone once it stops renewing', async () => {
  const target = await server.createDatabase();
  const [dbA, dbB] = [await edgeDb(target), await edgeDb(target)];
  const a = new PostgresEdgeLease(dbA, { edgeId: 'edge-a', advertiseUrl: 'https://a.internal' }, LEASE);
  const b = new PostgresEdgeLease(dbB, { edgeId: 'edge-b', advertiseUrl: 'https://b.internal' }, LEASE);
  await a.start();
  await b.start();
  cleanups.push(() => b.stop());
  assert.ok(a.held && b.held);
  assert.deepEqual((await b.liveEdges()).map((e) => e.edgeId).sort(), ['edge-a', 'edge-b']);
  const row = async () => (await dbB.one<{ renewed_at: number; left: number }>('SELECT renewed_at, expires_at - postern_now_ms() AS left FROM cluster_edges WHERE edge_id = ?', ['edge-a']))!;
  const first = await row();
  assert.ok(first.left > 0 && first.left <= LEASE.ttlMs, `expires within a TTL on the database clock (${first.left} ms left)`);
  await pollUntil(async () => ((await row()).renewed_at > first.renewed_at ? true : undefined), { timeoutMs: 5_000, intervalMs: 100, what: 'a renewal' });

  // Edge A loses its database (as if killed): no more renewals.
  const lost = new Promise<void>((resolve) => a.once('lost', () => resolve()));
  await dbA.close();
  const started = Date.now();
  await pollUntil(async () => ((await b.liveEdges()).every((e) => e.edgeId !== 'edge-a') ? true : undefined), { timeoutMs: 10_000, intervalMs: 50, what: 'edge A to expire' });
  const gone = Date.now() - started;
  assert.ok(gone <= LEASE.ttlMs + 2_000, `gone within about a TTL (${gone} ms)`);
  await withTimeout(lost, 10_000, 'edge A to notice it lost its lease');
  assert.equal(a.held, false);
  await a.stop();
});

test('presence: live connections are found from other edges, leave with remove, vanish with their lease, and come back when the edge registers again', async () => {
  const target = await server.createDatabase();
  const a = await startCluster(target, 'edge-a');
  const b = await startCluster(target, 'edge-b');
  a.presence.add({ connectionId: 'c1', socketId: 'sck_grafana', tunnelId: 'tun_1' });
  a.presence.add({ connectionId: 'c2', socketId: 'sck_grafana', tunnelId: null });
  b.presence.add({ connectionId: 'c3', socketId: 'sck_wiki', tunnelId: null });
  await a.presence.settled();
  await b.presence.settled();
  assert.deepEqual(await b.presence.locate('sck_grafana'), [a.self]);
  assert.deepEqual(await a.presence.locate('sck_grafana'), [], 'an edge is not told to relay to itself');
  assert.deepEqual(await a.presence.locate('sck_wiki'), [b.self]);
  assert.deepEqual((await b.presence.liveConnections('sck_grafana')).map((c) => [c.connectionId, c.edge.edgeId, c.tunnelId]), [['c1', 'edge-a', 'tun_1'], ['c2', 'edge-a', null]]);
  assert.equal((await a.presence.liveConnections()).length, 3, 'the whole cluster');

  a.presence.remove('c1');
  await a.presence.settled();
  assert.deepEqual((await b.presence.liveConnections('sck_grafana')).map((c) => c.connectionId), ['c2']);

  // A pruner removes edge A's row (as after a lapse): its presence goes with it, and A's next renewal
  // registers it again with the connections it really holds.
  const registered = new Promise<void>((resolve) => a.lease.once('registered', () => resolve()));
  const dbB = await edgeDb(target);
  const left = await dbB.transaction(async (tx) => {
    await tx.exec('DELETE FROM cluster_edges WHERE edge_id = ?', ['edge-a']);
    return (await tx.one<{ n: number }>("SELECT COUNT(*) AS n FROM cluster_presence WHERE edge_id = 'edge-a'"))!.n;
  });
  assert.equal(left, 0, 'the presence rows went with the lease row');
  await withTimeout(registered, 5_000, 'edge A to register again');
  await pollUntil(async () => ((await b.presence.liveConnections('sck_grafana')).map((c) => c.connectionId).join() === 'c2' ? true : undefined), {
    timeoutMs: 5_000,
    intervalMs: 50,
    what: "edge A's presence to be written again",
  });
});

test('PostgreSQL stopped: leases are lost and come back by themselves, presence changed during the outage is repaired, the feed reconnects', async (t) => {
  const target = await server.createDatabase();
  const a = await startCluster(target, 'edge-a');
  const b = await startCluster(target, 'edge-b');
  const heardByA = recorder(a.changes);
  a.presence.add({ connectionId: 'before', socketId: 'sck_app', tunnelId: null });
  await a.presence.settled();
  assert.equal((await b.presence.liveConnections('sck_app')).length, 1);

  const lostA = new Promise<void>((resolve) => a.lease.once('lost', () => resolve()));
  await server.stop();
  try {
    // Tunnels come and go while the database is away; nothing here may throw or wait for it.
    a.presence.add({ connectionId: 'during', socketId: 'sck_app', tunnelId: null });
    a.presence.remove('before');
    await withTimeout(lostA, 10_000, 'edge A to report its lease lost');
    assert.equal(a.lease.held, false);
  } finally {
    await server.resume();
  }
  const back = Date.now();
  await pollUntil(async () => ((await b.presence.liveConnections('sck_app')).map((c) => c.connectionId).join() === 'during' ? true : undefined), {
    timeoutMs: 10_000,
    intervalMs: 100,
    what: "edge A's presence repaired after the outage",
  });
  await pollUntil(async () => (a.lease.held && b.lease.held ? true : undefined), { timeoutMs: 10_000, intervalMs: 50, what: 'both leases held again' });
  await pollUntil(async () => ((await b.lease.liveEdges()).length === 2 ? true : undefined), { timeoutMs: 10_000, intervalMs: 50, what: 'both edges live again' });
  const dbB = await edgeDb(target);
  await dbB.transaction((tx) => b.changes.publish(tx, { topic: 'token', key: 'after-outage' }));
  await heardByA.next('after-outage', 10_000);
  t.diagnostic(`presence repaired and a change heard ${Date.now() - back} ms after PostgreSQL answered again`);
});

test('a change published in a transaction reaches every edge, the publisher included, within a second (20 trials); the NOTIFY carries no payload', async (t) => {
  const target = await server.createDatabase();
  // A long poll: what arrives fast here arrives by NOTIFY.
  const slowPoll = { ...FEED, pollMs: 60_000 };
  const edges = [await startCluster(target, 'edge-1', slowPoll), await startCluster(target, 'edge-2', slowPoll), await startCluster(target, 'edge-3', slowPoll)];
  const recorders = edges.map((edge) => recorder(edge.changes));
  const raw = (await edgeDb(target)).dedicatedClient('test-listen');
  const payloads: string[] = [];
  raw.on('notification', (message) => payloads.push(message.payload ?? '(none)'));
  await raw.connect();
  cleanups.push(() => raw.end());
  await raw.query('LISTEN postern_changes');
  const publisher = await edgeDb(target);
  const latencies: number[] = [];
  for (let trial = 0; trial < 20; trial++) {
    const key = `sess-${trial}`;
    const sent = performance.now();
    await publisher.transaction((tx) => edges[0]!.changes.publish(tx, { topic: 'session', key }));
    await Promise.all(recorders.map((r) => r.next(key, 2_000)));
    latencies.push(performance.now() - sent);
  }
  latencies.sort((x, y) => x - y);
  t.diagnostic(`publish → heard on all 3 edges: median ${latencies[10]!.toFixed(1)} ms, max ${latencies[19]!.toFixed(1)} ms`);
  assert.ok(latencies[19]! < 1_000, `max ${latencies[19]} ms`);
  await pollUntil(async () => (payloads.length >= 20 ? true : undefined), { timeoutMs: 5_000, what: 'the raw notifications' });
  assert.ok(payloads.every((p) => p === ''), `payload-less: ${JSON.stringify(payloads.slice(0, 3))}`);
  assert.deepEqual(recorders[1]!.seen.map((c) => c.topic), Array<string>(20).fill('session'));
});

test('a rolled-back change is never heard; a change row without its NOTIFY still arrives by the poll', async () => {
  const target = await server.createDatabase();
  const edge = await startCluster(target, 'edge-a');
  const heard = recorder(edge.changes);
  const db = await edgeDb(target);
  await assert.rejects(
    db.transaction(async (tx) => {
      await edge.changes.publish(tx, { topic: 'socket', key: 'rolled-back' });
      throw new Error('abort');
    }),
    /abort/,
  );
  await db.exec("INSERT INTO cluster_changes (at, topic, key) VALUES (postern_now_ms(), 'socket', 'no-notify')");
  await heard.next('no-notify', FEED.pollMs + 3_000);
  await db.transaction((tx) => edge.changes.publish(tx, { topic: 'socket', key: 'committed' }));
  await heard.next('committed');
  assert.equal(heard.has('rolled-back'), false);
});

test('the LISTEN connection killed by the server: the feed reconnects by itself and replays what was published meanwhile', async () => {
  const target = await server.createDatabase();
  const listener = new PostgresChangeFeed(await edgeDb(target), { ...FEED, pollMs: 60_000 });
  await listener.start();
  cleanups.push(() => listener.stop());
  const heard = recorder(listener);
  const admin = await edgeDb(target);
  const publisher = new PostgresChangeFeed(admin, FEED);
  const pid = async () => (await admin.one<{ pid: number }>("SELECT pid FROM pg_stat_activity WHERE application_name = 'postern-listen' AND datname = current_database()"))?.pid;
  const before = await pollUntil(pid, { timeoutMs: 5_000, what: 'the LISTEN connection' });
  await admin.query('SELECT pg_terminate_backend(?)', [before]);
  for (const key of ['missed-1', 'missed-2', 'missed-3']) await admin.transaction((tx) => publisher.publish(tx, { topic: 'token', key }));
  await Promise.all(['missed-1', 'missed-2', 'missed-3'].map((key) => heard.next(key, 10_000)));
  await pollUntil(async () => (listener.listening && (await pid()) !== before ? true : undefined), { timeoutMs: 10_000, what: 'a new LISTEN connection' });
});

test('a change whose transaction took its number first but committed last is still delivered', async () => {
  const target = await server.createDatabase();
  const edge = await startCluster(target, 'edge-a');
  const heard = recorder(edge.changes);
  const db = await edgeDb(target);
  let release!: () => void;
  const held = new Promise<void>((resolve) => (release = resolve));
  let published!: () => void;
  const numbered = new Promise<void>((resolve) => (published = resolve));
  const slow = db.transaction(async (tx) => {
    await edge.changes.publish(tx, { topic: 'session', key: 'first-numbered' });
    published();
    await held;
  });
  await numbered;
  await db.transaction((tx) => edge.changes.publish(tx, { topic: 'session', key: 'second-numbered' }));
  await heard.next('second-numbered');
  await new Promise((resolve) => setTimeout(resolve, FEED.pollMs * 2)); // the feed reads on past the hole meanwhile
  release();
  await slow;
  await heard.next('first-numbered');
  const seqs = await db.query<{ key: string; seq: number }>('SELECT key, seq FROM cluster_changes ORDER BY seq');
  assert.deepEqual(seqs.map((r) => r.key), ['first-numbered', 'second-numbered'], 'the numbers were taken in that order');
});

test('singleton job: of three edges one runs each round; a holder that stops hands over at once, one that dies after its lease expires', async () => {
  const target = await server.createDatabase();
  const dbs = [await edgeDb(target), await edgeDb(target), await edgeDb(target)];
  const rounds: string[] = [];
  const jobs = dbs.map((db, i) => new SingletonJob(new PostgresJobLease(db, 'reaper', `edge-${i}`, 3_000), 300, async () => void rounds.push(`edge-${i}`)));
  for (const job of jobs) job.start();
  await pollUntil(async () => (rounds.length >= 4 ? true : undefined), { timeoutMs: 10_000, what: 'four rounds' });
  const holder = rounds[0]!;
  assert.ok(rounds.every((r) => r === holder), `one edge ran every round: ${rounds.join(' ')}`);
  await jobs[Number(holder.slice(-1))]!.stop();
  const handedOver = rounds.length;
  await pollUntil(async () => (rounds.slice(handedOver).some((r) => r !== holder) ? true : undefined), { timeoutMs: 5_000, what: 'another edge to take over' });
  for (const job of jobs) await job.stop();

  // A holder that dies keeps the job until its lease expires on the database clock.
  const dead = new PostgresJobLease(dbs[0]!, 'pruner', 'edge-dead', 800);
  const alive = new PostgresJobLease(dbs[1]!, 'pruner', 'edge-alive', 800);
  assert.equal(await dead.acquire(), true);
  assert.equal(await alive.acquire(), false);
  await pollUntil(async () => ((await alive.acquire()) ? true : undefined), { timeoutMs: 10_000, intervalMs: 100, what: 'the dead holder to expire' });
  assert.equal(await dead.acquire(), false, 'the old holder does not get it back while the new one renews');
});

test('presence writes are ordered and never wait for the caller: 200 connects and disconnects in one tick end in the right rows', async () => {
  const target = await server.createDatabase();
  const db = await edgeDb(target);
  const lease = new PostgresEdgeLease(db, { edgeId: 'edge-a', advertiseUrl: 'https://a.internal' }, LEASE);
  await lease.start();
  cleanups.push(() => lease.stop());
  const presence = new PostgresPresence(db, lease);
  for (let i = 0; i < 200; i++) presence.add({ connectionId: `c${i}`, socketId: `sck_${i % 5}`, tunnelId: null });
  for (let i = 0; i < 200; i += 2) presence.remove(`c${i}`);
  await presence.settled();
  const rows = await db.query<{ connection_id: string }>('SELECT connection_id FROM cluster_presence ORDER BY connection_id');
  assert.deepEqual(rows.map((r) => r.connection_id), Array.from({ length: 100 }, (_, i) => `c${2 * i + 1}`).sort());
});
