/**
 * `npm run bench:cluster`: the PostgreSQL cost of the cluster's recurring work, measured on a
 * throwaway local server, for the paper model in docs/SCALING.md. Each phase runs a fixed number
 * of operations from 8 concurrent callers and reports operations per second, PostgreSQL CPU µs per
 * operation (every server process, from /proc) and client CPU µs per operation (this process).
 * Writes bench/results/cluster-model.json.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { PostgresChangeFeed, type FeedEvent } from '@postern/edge/cluster';
import { openSql, type PostgresDriver } from '@postern/edge/sql';
import { PostgresServer } from '#test-lib/postgres.js';
import { descendantPids } from './lib/procs.js';

const CONCURRENCY = 8;
const TICKS_PER_SECOND = 100; // USER_HZ on Linux

interface Phase {
  readonly name: string;
  readonly ops: number;
  readonly opsPerSecond: number;
  readonly postgresCpuMicrosPerOp: number;
  readonly clientCpuMicrosPerOp: number;
}

function serverCpuMicros(postmaster: number): number {
  let ticks = 0;
  for (const pid of [postmaster, ...descendantPids(postmaster)]) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime, stime
    } catch {
      // exited meanwhile
    }
  }
  return (ticks * 1_000_000) / TICKS_PER_SECOND;
}

async function measure(name: string, ops: number, postmaster: number, op: (i: number) => Promise<unknown>): Promise<Phase> {
  let next = 0;
  const serverBefore = serverCpuMicros(postmaster);
  const clientBefore = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next < ops) await op(next++);
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const client = process.cpuUsage(clientBefore);
  const phase = {
    name,
    ops,
    opsPerSecond: Math.round(ops / seconds),
    postgresCpuMicrosPerOp: Math.round((serverCpuMicros(postmaster) - serverBefore) / ops),
    clientCpuMicrosPerOp: Math.round((client.user + client.system) / ops),
  };
  process.stdout.write(`${name}: ${phase.opsPerSecond} ops/s, PostgreSQL ${phase.postgresCpuMicrosPerOp} µs/op, client ${phase.clientCpuMicrosPerOp} µs/op\n`);
  return phase;
}

async function bytesPerRow(db: PostgresDriver, table: string): Promise<number> {
  await db.exec(`VACUUM ANALYZE ${table}`);
  const row = await db.one<{ bytes: number; n: number }>(`SELECT pg_total_relation_size('${table}') AS bytes, (SELECT COUNT(*) FROM ${table}) AS n`);
  return Math.round(row!.bytes / row!.n);
}

async function main(): Promise<void> {
  const server = await PostgresServer.start();
  const feeds: PostgresChangeFeed[] = [];
  const drivers: PostgresDriver[] = [];
  try {
    const url = await server.createDatabase();
    const db = (await openSql(url)) as PostgresDriver;
    drivers.push(db);
    const postmaster = server.pid!;
    const phases: Phase[] = [];

    // Leases: 100 edges' rows, renewed as the lease module does.
    for (let e = 0; e < 100; e++) {
      await db.exec('INSERT INTO cluster_edges (edge_id, advertise_url, started_at, renewed_at, expires_at) VALUES (?, ?, 0, 0, postern_now_ms() + 8000)', [`edge-${e}`, `https://edge-${e}.internal`]);
    }
    phases.push(
      await measure('lease renewal', 5_000, postmaster, (i) =>
        db.exec('UPDATE cluster_edges SET renewed_at = postern_now_ms(), expires_at = postern_now_ms() + ? WHERE edge_id = ? AND expires_at > postern_now_ms()', [8_000, `edge-${i % 100}`]),
      ),
    );

    // Presence churn: one connect and one disconnect.
    phases.push(
      await measure('presence connect + disconnect', 5_000, postmaster, async (i) => {
        await db.exec('INSERT INTO cluster_presence (connection_id, edge_id, socket_id, tunnel_id, connected_at) VALUES (?, ?, ?, NULL, 0) ON CONFLICT (connection_id) DO NOTHING', [`c${i}`, `edge-${i % 100}`, `sck_${i}`]);
        await db.exec('DELETE FROM cluster_presence WHERE connection_id = ?', [`c${i}`]);
      }),
    );

    // Change publishes, heard by three listening edges.
    const heard = new Map<string, { sent: number; count: number; latency?: number }>();
    for (let f = 0; f < 3; f++) {
      const feedDb = (await openSql(url)) as PostgresDriver;
      drivers.push(feedDb);
      const feed = new PostgresChangeFeed(feedDb);
      feed.subscribe((event: FeedEvent) => {
        if (event.type !== 'change') return;
        const entry = heard.get(event.change.key);
        if (entry && ++entry.count === 3) entry.latency = performance.now() - entry.sent;
      });
      await feed.start();
      feeds.push(feed);
    }
    const publisher = feeds[0]!;
    phases.push(
      await measure('change publish (row + NOTIFY, one transaction)', 2_000, postmaster, async (i) => {
        heard.set(`k${i}`, { sent: performance.now(), count: 0 });
        await db.transaction((tx) => publisher.publish(tx, { topic: 'session', key: `k${i}` }));
      }),
    );
    const deadline = Date.now() + 10_000;
    while ([...heard.values()].some((h) => h.latency === undefined) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const latencies = [...heard.values()].map((h) => h.latency ?? Infinity).sort((a, b) => a - b);
    const at = (q: number) => Math.round(latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))]! * 10) / 10;
    const notify = { p50Ms: at(0.5), p99Ms: at(0.99), maxMs: at(1), underLoadOpsPerSecond: phases[phases.length - 1]!.opsPerSecond };
    process.stdout.write(`publish → heard on 3 edges, while publishing flat out: p50 ${notify.p50Ms} ms, p99 ${notify.p99Ms} ms, max ${notify.maxMs} ms\n`);

    // 1M sessions, looked up by primary key (a cache miss on the request path).
    await db.exec("INSERT INTO accounts (id, email, created_at) VALUES ('acc', 'a@example.com', 0)");
    await db.exec("INSERT INTO users (id, issuer, subject, created_at, last_login_at) VALUES ('usr', 'https://idp.example', 'sub', 0, 0)");
    for (let from = 1; from <= 1_000_000; from += 100_000) {
      await db.exec(
        `INSERT INTO sessions (id_hash, user_id, socket_id, parent_hash, created_at, last_seen_at, expires_at)
         SELECT encode(sha256(i::text::bytea), 'base64'), 'usr', NULL, encode(sha256((i / 3)::text::bytea), 'base64'), 1796147924161, 1796147924161, 1796234324161
         FROM generate_series(?::int, ?::int) AS i`,
        [from, from + 99_999],
      );
    }
    const ids = (await db.query<{ id_hash: string }>('SELECT id_hash FROM sessions ORDER BY random() LIMIT 20000')).map((r) => r.id_hash);
    phases.push(await measure('session lookup by id (of 1M)', ids.length, postmaster, (i) => db.one('SELECT * FROM sessions WHERE id_hash = ?', [ids[i]!])));

    // Row sizes for the model: sockets, presence.
    await db.exec(
      `INSERT INTO sockets (id, account_id, name, hostname, protocol, policy, created_at)
       SELECT 'sck_' || i, 'acc', 'app ' || i, 'app-' || i || '-x1y2z3', 'http', '{"version":1,"rules":[],"default":{"action":"allow","domains":["example.com"]}}', 1796147924161 FROM generate_series(1, 100000) AS i`,
    );
    await db.exec(
      `INSERT INTO cluster_presence (connection_id, edge_id, socket_id, tunnel_id, connected_at)
       SELECT 'conn_' || i, 'edge-' || (i % 100), 'sck_' || (i % 100000), NULL, 1796147924161 FROM generate_series(1, 200000) AS i`,
    );
    const sizes = { sessionBytes: await bytesPerRow(db, 'sessions'), socketBytes: await bytesPerRow(db, 'sockets'), presenceBytes: await bytesPerRow(db, 'cluster_presence') };
    process.stdout.write(`bytes per row with indexes: sessions ${sizes.sessionBytes}, sockets ${sizes.socketBytes}, presence ${sizes.presenceBytes}\n`);

    const out = join(import.meta.dirname, '..', 'results', 'cluster-model.json');
    writeFileSync(out, `${JSON.stringify({ at: new Date().toISOString(), cpus: (await import('node:os')).cpus().length, concurrency: CONCURRENCY, phases, notify, sizes }, null, 2)}\n`);
    process.stdout.write(`wrote ${out}\n`);
  } finally {
    for (const feed of feeds) await feed.stop();
    for (const driver of drivers) await driver.close();
    await server.destroy();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
