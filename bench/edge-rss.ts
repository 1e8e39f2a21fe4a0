/**
 * `npm run bench:edge-rss`: resident memory of edges holding idle tunnel connections, for the RAM per
 * edge of docs/SCALING.md's paper model. Three edges on one throwaway PostgreSQL serve one domain; one
 * connector per edge, dialing that edge's own address, serves RSS_SOCKETS sockets (`--config`) with
 * RSS_CONNECTIONS tunnel connections each. Each edge's VmRSS is read before and after, and its
 * `postern_edge_tunnel_connections` gauge says how many connections it really holds (a connector
 * may spread them over the edges it learns of). Writes bench/results/edge-rss.json.
 *
 *   RSS_SOCKETS=32 RSS_CONNECTIONS=16   (per edge: 512 connections)
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseMetrics } from '#test-lib/metrics.js';
import { runBounded, writeJsonAtomic } from './lib/lifecycle.js';
import { freePort, rssBytes, sleep, type Proc } from './lib/procs.js';
import { fmt, kib, log, median, mib } from './lib/report.js';
import { createAccount, startCluster, startConnector, startOrigin, type ClusterEdge } from './lib/targets.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SOCKETS = Number(process.env.RSS_SOCKETS ?? 32);
const CONNECTIONS = Number(process.env.RSS_CONNECTIONS ?? 16);
const EDGES = 3;

/** Median of three VmRSS readings half a second apart (one reading can catch a GC half done). */
async function settledRss(pid: number): Promise<number> {
  const readings: number[] = [];
  for (let i = 0; i < 3; i++) {
    readings.push(rssBytes(pid));
    await sleep(500);
  }
  return median(readings);
}

async function tunnelConnections(metricsPort: number): Promise<number> {
  const res = await fetch(`http://127.0.0.1:${metricsPort}/metrics`, { signal: AbortSignal.timeout(5000) });
  return parseMetrics(await res.text())
    .filter((s) => s.name === 'postern_edge_tunnel_connections')
    .reduce((sum, s) => sum + s.value, 0);
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'postern-edge-rss-'));
  const origin = await startOrigin(ROOT, dir);
  const metricsPorts: number[] = [];
  for (let i = 0; i < EDGES; i++) metricsPorts.push(await freePort());
  const cluster = await startCluster(ROOT, dir, 'rss', EDGES, (i) => ['--metrics-listen', `127.0.0.1:${metricsPorts[i]}`]);
  const connectors: Proc[] = [];
  try {
    const { token } = await createAccount(ROOT, dir, 'rss', cluster.store);
    await sleep(3000);
    const before = await Promise.all(cluster.edges.map((e) => settledRss(e.proc.pid)));
    const startFor = async (edge: ClusterEdge, i: number): Promise<void> => {
      const config = join(dir, `sockets-${i}.yaml`);
      const entries = Array.from({ length: SOCKETS }, (_, k) => `  - name: idle-${i}-${k}\n    to: http://127.0.0.1:${origin.port}\n`);
      writeFileSync(config, `sockets:\n${entries.join('')}`);
      const { proc } = await startConnector(ROOT, dir, {
        name: `connector-rss-${i}`,
        edgePort: edge.port,
        token,
        serve: ['--config', config],
        connections: CONNECTIONS,
        extraArgs: ['--edge', edge.url],
      });
      connectors.push(proc);
    };
    for (const [i, edge] of cluster.edges.entries()) await startFor(edge, i);
    const wanted = EDGES * SOCKETS * CONNECTIONS;
    const deadline = Date.now() + 120_000;
    let held: number[] = [];
    for (;;) {
      held = await Promise.all(metricsPorts.map(tunnelConnections));
      if (held.reduce((a, b) => a + b, 0) >= wanted || Date.now() > deadline) break;
      await sleep(500);
    }
    await sleep(3000);
    const after = await Promise.all(cluster.edges.map((e) => settledRss(e.proc.pid)));
    const connectorRss = connectors.map((c) => rssBytes(c.pid));
    const edges = cluster.edges.map((_, i) => ({
      edge: i + 1,
      connections: held[i]!,
      rssBefore: before[i]!,
      rssAfter: after[i]!,
      bytesPerConnection: held[i]! > 0 ? (after[i]! - before[i]!) / held[i]! : null,
    }));
    for (const e of edges) {
      log(`edge ${e.edge}: ${e.connections} idle tunnel connections, RSS ${mib(e.rssBefore)} → ${mib(e.rssAfter)} MiB (${e.bytesPerConnection === null ? '—' : kib(e.bytesPerConnection)} KiB per connection)`);
    }
    const total = held.reduce((a, b) => a + b, 0);
    if (total < wanted) log(`note: ${total} of ${wanted} connections were up after 120 s`);
    log(`connectors: ${connectorRss.map((b) => mib(b)).join(', ')} MiB for ${SOCKETS * CONNECTIONS} connections each`);
    const perConnection = edges.map((e) => e.bytesPerConnection).filter((v): v is number => v !== null);
    const out = join(ROOT, 'bench/results/edge-rss.json');
    writeJsonAtomic(out, {
      at: new Date().toISOString(),
      settings: { edges: EDGES, socketsPerConnector: SOCKETS, connectionsPerSocket: CONNECTIONS },
      edges,
      connectorRss,
      medianBytesPerConnection: perConnection.length ? median(perConnection) : null,
    });
    log(`median ${fmt(perConnection.length ? median(perConnection) / 1024 : undefined, 1)} KiB per idle tunnel connection; wrote ${out}`);
    return 0;
  } finally {
    for (const c of connectors) await c.stop(5000);
    await cluster.stop();
    await origin.proc.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

runBounded('edge RSS measurement', 10 * 60_000, main);
