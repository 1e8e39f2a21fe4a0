/**
 * `npm run bench`: Postern side by side with a direct connection, nginx and `ssh -R`, on loopback.
 *
 * Starts (as real processes) an origin app, the edge and a connector, plus nginx and a private sshd +
 * `ssh -R` when installed; measures small-request rate and latency, single-stream download and upload,
 * small-request fairness under a bulk download, memory per idle WebSocket, edge memory under a
 * stalled upload, and (Postern only, one edge and two connectors on one socket) reconnect time after
 * an edge restart, requests failed while a connector restarts, and small-request p99 during a short
 * soak (bench/lib/soak.ts); prints tables, writes bench/results/latest.json and regenerates
 * docs/BENCHMARKS.md from it (bench/docs.ts). A bare node:http + undici proxy ("Node floor") is
 * measured beside them for small GETs: the least a Node proxy of today's design costs.
 *
 * The load generator for the small-request phases is wrk (a C program, in its own process) when it
 * is installed, else autocannon inside this process with a note; either shares the machine's cores
 * with the processes it measures, for every column alike. CPU per request is read from /proc for
 * each process on the path (and wrk itself) during the same run.
 *
 * Environment knobs (for iterating; the defaults are what docs/BENCHMARKS.md reports):
 *   BENCH_PHASES=small,transfer,fairness,ws,stall,reconnect,restart,soak   which phases to run
 *   BENCH_TARGETS=direct,postern,postern-signed-in,postern-inspect,postern-relayed,node-floor,nginx,ssh   which paths to measure
 *   BENCH_LOAD=autocannon   use autocannon even when wrk is installed
 *   BENCH_SECONDS=10        small-GET measurement length per target
 *   BENCH_WS=10000          idle WebSockets to open
 *   BENCH_SOAK_SECONDS=20   length of the soak phase (`npm run soak` runs the long one)
 *   BENCH_EDGE_NODE_FLAGS   extra node flags for the edge, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof"
 *   BENCH_CONNECTOR_NODE_FLAGS   the same for the connector
 *   BENCH_RESULTS=path      write the JSON there instead of bench/results/latest.json (partial runs)
 *   BENCH_SOURCE            label for the measured source when not run from a git checkout
 *   BENCH_KEEP_TMP=1        keep the temp dir (process logs, configs) after a successful run
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gitState, machineBusy, runBounded, writeJsonAtomic } from './lib/lifecycle.js';
import { writeBenchmarksDoc } from './docs.js';
import { CpuMeter, ForeignCpuMeter, loadGenerator, smallGets } from './lib/load.js';
import { openFilesLimit, rssBytes, runCommand, sleep, startProcess } from './lib/procs.js';
import { comparisonTable, cpuTable, detailLines, targetsTable } from './lib/render.js';
import { fmt, kib, log, median, mib, MiB } from './lib/report.js';
import { measureConnectorRestarts, measureReconnect, type ReconnectResult, type RestartLoadResult } from './lib/restarts.js';
import type { BenchResults, StallResult, TargetResult, WsResult } from './lib/results.js';
import { Rig } from './lib/rig.js';
import { runSoak, soakReport, soakSettings, type SoakResult } from './lib/soak.js';
import {
  connectorRetries,
  directTarget,
  NGINX_HINT,
  SSH_HINT,
  sshTools,
  startNginx,
  startOrigin,
  startNodeFloor,
  startPostern,
  startPosternRelayed,
  startSshTunnel,
  which,
  type Origin,
  type PosternTarget,
  type Target,
} from './lib/targets.js';
import { download, getText, upload } from './lib/transfer.js';
import { verdicts } from './lib/verdicts.js';
import { closeAll, openMany, stillOpen } from './lib/websockets.js';
import { WRK_HINT } from './lib/wrk.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DEFAULT_RESULTS = join(ROOT, 'bench/results/latest.json');
const RESULTS = resolve(process.env.BENCH_RESULTS ?? DEFAULT_RESULTS);

const env = process.env;
const PHASES = new Set((env.BENCH_PHASES ?? 'small,transfer,fairness,ws,stall,reconnect,restart,soak').split(',').map((s) => s.trim()));
const WANTED = new Set((env.BENCH_TARGETS ?? 'direct,postern,postern-signed-in,postern-inspect,postern-relayed,node-floor,nginx,ssh').split(',').map((s) => s.trim()));
const SMALL = { connections: 50, warmSeconds: 3, seconds: Number(env.BENCH_SECONDS ?? 10) };
const TRANSFER = { bytes: 100 * MiB, runs: 3, warmups: 1 };
/** The bulk reader pauses whenever it is `readerAheadMs` ahead of `bulkRate`: smooth ~100 MB/s reading. */
const FAIR = { seconds: 8, rampMs: 1500, bulkRate: 100e6, readerAheadMs: 1 };
const WS = { count: Number(env.BENCH_WS ?? 10_000), concurrency: 64 };
const STALL = { bytes: 1024 * MiB, appRate: 10e6, seconds: 15 };
/** Edge restarts with two connectors (2 tunnel connections each) serving one socket. */
const RECONNECT = { restarts: 5, connections: 2, timeoutMs: 30_000 };
/** Connector B restarted under paced small GETs, `runs` times per signal. */
const RESTART = { runs: 3, connections: 2, graceSeconds: 5, workers: 8, rate: 400, beforeMs: 2000, afterMs: 2000 };
const SOAK_SECONDS = Number(env.BENCH_SOAK_SECONDS ?? 20);
/** Phases that measure every path side by side; the others start their own Postern processes. */
const TARGET_PHASES = ['small', 'transfer', 'fairness'];
/** The whole run is bounded: past this everything is stopped and the bench fails. */
const WATCHDOG_MS = 12 * 60_000;

const notes: string[] = [];
const note = (text: string): void => {
  notes.push(text);
  log(`note: ${text}`);
};

// ------------------------------------------------------------------------------------------ phases

/** Above this much foreign CPU (% of one core) during a measurement, its figure is flagged. */
const DISTURBED = 15;

/** Runs one measurement while metering other people's CPU use, and records it. */
async function watched<T>(r: TargetResult, what: string, fn: () => Promise<T>): Promise<T> {
  const meter = new ForeignCpuMeter();
  const value = await fn();
  const foreign = meter.read();
  r.foreignCpu[what] = +foreign.toFixed(1);
  if (foreign > DISTURBED) note(`${r.label} ${what}: other processes used ${foreign.toFixed(0)}% of a core meanwhile (figure disturbed)`);
  return value;
}

async function checkPath(t: Target): Promise<void> {
  const { status, body } = await getText(t, '/');
  if (status !== 200 || body !== 'hello, world\n') throw new Error(`GET / through ${t.label} answered ${status} ${JSON.stringify(body.slice(0, 200))}`);
}

function cpuGroups(origin: Origin, t: Target): Map<string, number> {
  const groups = new Map<string, number>([['origin', origin.proc.pid]]);
  for (const [name, proc] of t.procs) groups.set(name, proc.pid);
  return groups;
}

async function phaseSmall(origin: Origin, t: Target, r: TargetResult): Promise<void> {
  await smallGets(t, { connections: SMALL.connections, seconds: SMALL.warmSeconds });
  const meter = new CpuMeter(cpuGroups(origin, t));
  const res = await watched(r, 'small GETs', () => smallGets(t, { connections: SMALL.connections, seconds: SMALL.seconds }));
  const { cpu } = meter.read();
  const cpuUs = Object.fromEntries(Object.entries(cpu).map(([name, seconds]) => [name, (seconds * 1e6) / Math.max(1, res.ok)]));
  r.small = { ...res, cpuSeconds: cpu, cpuUs };
  if (res.non2xx > 0 || res.errors > 0) r.errors.push(`small GETs: ${res.non2xx} non-2xx, ${res.errors} errors, ${res.timeouts} timeouts`);
  const perRequest = Object.entries(cpuUs).map(([name, us]) => `${name} ${fmt(us, 1)}`).join(', ');
  log(`  ${t.label.padEnd(8)} small GETs  ${fmt(res.rps, 0)} req/s  p50 ${fmt(res.p50, 2)} ms  p99 ${fmt(res.p99, 2)} ms  CPU µs/request: ${perRequest}`);
}

async function phaseTransfer(t: Target, r: TargetResult): Promise<void> {
  const downs: number[] = [];
  const ups: number[] = [];
  let downOk = true;
  let upOk = true;
  // Unmeasured first: a 100 MiB transfer lasts well under a second, so JIT warm-up would dominate it.
  for (let i = 0; i < TRANSFER.warmups; i++) {
    await download(t, TRANSFER.bytes, { timeoutMs: 60_000 });
    await upload(t, TRANSFER.bytes, { timeoutMs: 60_000 });
  }
  const foreign = new ForeignCpuMeter();
  for (let i = 0; i < TRANSFER.runs; i++) {
    const d = await download(t, TRANSFER.bytes, { timeoutMs: 60_000 });
    if (d.status !== 200 || d.bytes !== TRANSFER.bytes) {
      downOk = false;
      r.errors.push(`download: status ${d.status}, ${d.bytes} of ${TRANSFER.bytes} bytes`);
    }
    downs.push(d.bytes / MiB / d.seconds);
    const u = await upload(t, TRANSFER.bytes, { timeoutMs: 60_000 });
    if (u.status !== 200 || u.received !== TRANSFER.bytes) {
      upOk = false;
      r.errors.push(`upload: status ${u.status}, app received ${u.received} of ${TRANSFER.bytes} bytes`);
    }
    ups.push(u.sent / MiB / u.seconds);
  }
  const foreignPct = foreign.read();
  r.foreignCpu.transfers = +foreignPct.toFixed(1);
  if (foreignPct > DISTURBED) note(`${r.label} transfers: other processes used ${foreignPct.toFixed(0)}% of a core meanwhile (figures disturbed)`);
  r.download = { mibps: median(downs), runs: downs, bytesOk: downOk };
  r.upload = { mibps: median(ups), runs: ups, bytesOk: upOk };
  log(`  ${t.label.padEnd(8)} download ${downs.map((v) => fmt(v, 0)).join('/')} MiB/s, upload ${ups.map((v) => fmt(v, 0)).join('/')} MiB/s`);
}

async function phaseFairness(dir: string, t: Target, r: TargetResult): Promise<void> {
  const idle = await watched(r, 'fairness idle', () => smallGets(t, { connections: SMALL.connections, seconds: FAIR.seconds }));
  const bytes = Math.round(FAIR.bulkRate * (FAIR.seconds + FAIR.rampMs / 1000 + 15));
  const bulk = startProcess({
    name: `bulk-${t.key}`,
    command: process.execPath,
    args: [join(ROOT, 'bench/dist/lib/bulk-client.js'), String(t.port), t.host ?? '-', String(bytes), String(FAIR.bulkRate), String(FAIR.readerAheadMs)],
    logDir: dir,
  });
  const samples: Array<{ at: number; bytes: number }> = [];
  let ended: string | undefined;
  bulk.onLine((line) => {
    try {
      const msg = JSON.parse(line) as { event: string; bytes?: number; message?: string };
      if (msg.event === 'progress') samples.push({ at: performance.now(), bytes: msg.bytes ?? 0 });
      else ended = msg.event === 'done' ? `bulk download finished early (${msg.bytes} bytes)` : `bulk download failed: ${msg.message}`;
    } catch {
      /* not ours */
    }
  });
  try {
    await sleep(FAIR.rampMs);
    if (samples.length === 0 || samples.at(-1)!.bytes === 0) throw new Error(`bulk download did not start\n${bulk.lastLines()}`);
    const at0 = samples.at(-1)!;
    const loaded = await watched(r, 'fairness with bulk', () => smallGets(t, { connections: SMALL.connections, seconds: FAIR.seconds }));
    const at1 = samples.at(-1)!;
    const bulkMBps = (at1.bytes - at0.bytes) / 1e6 / ((at1.at - at0.at) / 1000);
    r.fairness = { idle, loaded, ratio: loaded.rps / idle.rps, bulkMBps, ...(ended ? { bulkNote: ended } : {}) };
    if (ended) r.errors.push(`fairness: ${ended}`);
    if (bulkMBps < (0.5 * FAIR.bulkRate) / 1e6) r.errors.push(`fairness: the bulk download ran at only ${fmt(bulkMBps, 1)} MB/s (stalled?)`);
    if (loaded.non2xx > 0 || loaded.errors > 0) r.errors.push(`fairness: ${loaded.non2xx} non-2xx, ${loaded.errors} errors`);
    log(
      `  ${t.label.padEnd(8)} fairness   idle ${fmt(idle.rps, 0)} req/s, with bulk ${fmt(loaded.rps, 0)} req/s (${fmt(r.fairness.ratio * 100, 0)}%), ` +
        `p99 ${fmt(idle.p99, 2)} -> ${fmt(loaded.p99, 2)} ms, bulk ran at ${fmt(bulkMBps, 0)} MB/s`,
    );
  } finally {
    await bulk.stop(2000);
  }
}

async function phaseWebSockets(dir: string, origin: Origin): Promise<WsResult> {
  let count = WS.count;
  const selfLimit = openFilesLimit('self');
  let limitNote: string | undefined;
  const postern = await startPostern(ROOT, dir, origin, { tag: 'ws', connections: 1 });
  try {
    const limits = [selfLimit, openFilesLimit(postern.edge.pid), openFilesLimit(postern.connector.pid), openFilesLimit(origin.proc.pid)];
    const lowest = Math.min(...limits);
    if (lowest < count + 512) {
      count = Math.max(100, lowest - 512);
      limitNote = `open-files limit ${lowest} (bench, edge, connector, origin: ${limits.join(', ')}): opening ${count} WebSockets instead of ${WS.count}; raise it with "ulimit -n ${WS.count + 1024}"`;
      note(limitNote);
    }
    // Warm up: load the code paths and let pools and JIT settle before the baseline.
    for (let i = 0; i < 3; i++) {
      const few = await openMany(postern, 200, 32, 20_000);
      await closeAll(few.sockets);
    }
    await smallGets(postern, { connections: 10, seconds: 1 });
    await sleep(2000);
    const edgeBefore = rssBytes(postern.edge.pid);
    const connectorBefore = rssBytes(postern.connector.pid);
    const opened = await openMany(postern, count, WS.concurrency, 120_000);
    await sleep(3000);
    const edgeAfter = rssBytes(postern.edge.pid);
    const connectorAfter = rssBytes(postern.connector.pid);
    const stats = JSON.parse((await getText({ port: origin.port, host: undefined }, '/stats')).body) as { ws: number };
    const open = stillOpen(opened.sockets);
    const n = Math.max(1, opened.opened);
    const result: WsResult = {
      requested: count,
      opened: opened.opened,
      failed: opened.failed,
      firstError: opened.firstError,
      stillOpen: open,
      originSaw: stats.ws,
      openSeconds: opened.seconds,
      edgeBefore,
      edgeAfter,
      connectorBefore,
      connectorAfter,
      edgePerStream: (edgeAfter - edgeBefore) / n,
      connectorPerStream: (connectorAfter - connectorBefore) / n,
      totalPerStream: (edgeAfter - edgeBefore + connectorAfter - connectorBefore) / n,
      ...(limitNote ? { note: limitNote } : {}),
    };
    log(
      `  Postern  ${opened.opened}/${count} WebSockets open in ${fmt(opened.seconds, 1)} s (${opened.failed} failed, origin holds ${stats.ws}); ` +
        `edge ${mib(edgeBefore)} -> ${mib(edgeAfter)} MiB, connector ${mib(connectorBefore)} -> ${mib(connectorAfter)} MiB: ` +
        `${kib(result.edgePerStream)} + ${kib(result.connectorPerStream)} = ${kib(result.totalPerStream)} KiB per stream`,
    );
    if (opened.failed > 0) note(`WebSockets: ${opened.failed} failed to open (first error: ${opened.firstError})`);
    await closeAll(opened.sockets);
    return result;
  } finally {
    await postern.stop();
  }
}

async function phaseStall(dir: string, origin: Origin): Promise<StallResult> {
  const postern = await startPostern(ROOT, dir, origin, { tag: 'stall', connections: 1 });
  try {
    await smallGets(postern, { connections: 10, seconds: 1 });
    await upload(postern, 8 * MiB, { timeoutMs: 30_000 });
    await sleep(1500);
    const edgeBaseline = rssBytes(postern.edge.pid);
    const connectorBaseline = rssBytes(postern.connector.pid);
    const sinkBefore = (JSON.parse((await getText({ port: origin.port, host: undefined }, '/stats')).body) as { sinkBytes: number }).sinkBytes;
    const abort = new AbortController();
    const progress = { sent: 0 };
    const running = upload(postern, STALL.bytes, { path: `/sink?rate=${STALL.appRate}`, signal: abort.signal, progress, timeoutMs: 600_000 }).catch(
      (err: Error) => err,
    );
    const started = performance.now();
    const samples: Array<[number, number, number]> = [];
    while (performance.now() - started < STALL.seconds * 1000) {
      await sleep(100);
      samples.push([Math.round(performance.now() - started), rssBytes(postern.edge.pid), rssBytes(postern.connector.pid)]);
    }
    const seconds = (performance.now() - started) / 1000;
    const sinkAfter = (JSON.parse((await getText({ port: origin.port, host: undefined }, '/stats')).body) as { sinkBytes: number }).sinkBytes;
    abort.abort();
    const outcome = await running;
    if (!(outcome instanceof Error)) note(`stalled upload finished within ${STALL.seconds} s: the app did not read slowly?`);
    const half = samples.length >> 1;
    const peakOf = (from: number, to: number): number => Math.max(...samples.slice(from, to).map((s) => s[1]));
    const edgePeak = peakOf(0, samples.length);
    const edgeGrowthPeak = edgePeak - edgeBaseline;
    const edgeGrowthFirstHalf = peakOf(0, half) - edgeBaseline;
    const edgeGrowthSecondHalf = peakOf(half, samples.length) - edgeBaseline;
    const connectorGrowthPeak = Math.max(...samples.map((s) => s[2])) - connectorBaseline;
    // Bounded: well under what was pushed, and not still climbing in the second half of the run.
    const bounded = edgeGrowthPeak <= 64 * MiB && edgeGrowthSecondHalf - edgeGrowthFirstHalf <= 8 * MiB;
    const result: StallResult = {
      seconds,
      clientSentMiB: progress.sent / MiB,
      appReceivedMiB: (sinkAfter - sinkBefore) / MiB,
      edgeBaseline,
      edgePeak,
      edgeGrowthPeak,
      edgeGrowthFirstHalf,
      edgeGrowthSecondHalf,
      connectorGrowthPeak,
      bounded,
      samples: samples.filter((_, i) => i % 5 === 0),
    };
    log(
      `  Postern  stalled upload: client pushed ${fmt(result.clientSentMiB, 0)} MiB, app read ${fmt(result.appReceivedMiB, 0)} MiB in ${fmt(seconds, 1)} s; ` +
        `edge RSS ${mib(edgeBaseline)} MiB, peak +${mib(edgeGrowthPeak)} MiB (first half +${mib(edgeGrowthFirstHalf)}, second half +${mib(edgeGrowthSecondHalf)}); ` +
        `connector peak +${mib(connectorGrowthPeak)} MiB`,
    );
    return result;
  } finally {
    await postern.stop();
  }
}

// ------------------------------------------------------------------------------------------ main

async function toolVersion(command: string, args: string[]): Promise<string | undefined> {
  try {
    const child = await runCommand('/bin/sh', ['-c', `${command} ${args.join(' ')} 2>&1`], { timeoutMs: 5000 });
    return child.trim().split('\n')[0];
  } catch {
    return undefined;
  }
}

async function main(): Promise<number> {
  const startedAt = new Date();
  const dir = mkdtempSync(join(tmpdir(), 'postern-bench-'));
  log(`Postern benchmark — ${startedAt.toISOString()}`);
  log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Linux ${release()}, Node ${process.version}`);
  log(`logs and configs: ${dir}`);
  const busyBefore = await machineBusy(1500);
  if (busyBefore > 0.1) {
    note(`the machine was already ${(busyBefore * 100).toFixed(0)}% busy before the bench started (other processes): figures will be low and noisy`);
  }

  const nginxPath = which('nginx');
  const ssh = sshTools();
  const generator = loadGenerator();
  const generatorText = generator === 'wrk' ? `wrk -t2 -c${SMALL.connections}, its own process` : 'autocannon 8, in the bench process';
  if (generator === 'autocannon' && env.BENCH_LOAD !== 'autocannon') {
    note(`wrk is not installed: small requests are generated with autocannon inside the bench, which eats a core of its own (ssh -R reads ~15k req/s with it instead of ~30k with wrk here). Install: ${WRK_HINT}`);
  }
  const machine = {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model,
    memoryGiB: +(totalmem() / 2 ** 30).toFixed(1),
    kernel: release(),
    node: process.version,
    nginx: nginxPath ? await toolVersion(nginxPath, ['-v']) : undefined,
    ssh: ssh ? await toolVersion(ssh.ssh, ['-V']) : undefined,
    wrk: generator === 'wrk' ? await toolVersion('wrk', ['--version']) : undefined,
    busyBeforeRun: +busyBefore.toFixed(3),
  };
  const source = await gitState(ROOT);
  log(`source: ${source.commit ?? 'unknown commit'}${source.dirty.length ? ` + uncommitted changes in ${source.dirty.join(', ')}` : ''}`);
  if (source.dirty.length) note(`measured a working tree with uncommitted changes to ${source.dirty.join(', ')}`);
  if (!nginxPath) note(`nginx is not installed: its column is skipped. Install: ${NGINX_HINT}`);
  if (!ssh) note(`sshd/ssh are not installed: the ssh -R column is skipped. Install: ${SSH_HINT}`);

  const origin = await startOrigin(ROOT, dir);
  const targets: Target[] = [];
  const results: TargetResult[] = [];
  const tryStart = async (key: string, start: () => Promise<Target>): Promise<void> => {
    if (!WANTED.has(key) || !TARGET_PHASES.some((phase) => PHASES.has(phase))) return;
    try {
      const t = await start();
      await checkPath(t);
      targets.push(t);
      results.push({ key: t.key, label: t.label, foreignCpu: {}, errors: [] });
    } catch (err) {
      if (key === 'postern' || key === 'direct') throw err;
      note(`${key} could not be started, its column is skipped: ${(err as Error).message.split('\n')[0]}`);
    }
  };
  await tryStart('direct', async () => directTarget(origin));
  let postern: PosternTarget | undefined;
  const flags = (name: string): string[] => env[name]?.split(/\s+/).filter(Boolean) ?? [];
  await tryStart('postern', async () => {
    postern = await startPostern(ROOT, dir, origin, {
      tag: 'main',
      connections: 1,
      edgeNodeFlags: flags('BENCH_EDGE_NODE_FLAGS'),
      connectorNodeFlags: flags('BENCH_CONNECTOR_NODE_FLAGS'),
    });
    return postern;
  });
  // The same path behind sign-in (policy, session/token lookup, identity headers, signed assertion):
  // measured for small GETs only, against the open socket (target >= 0.9x).
  await tryStart('postern-signed-in', () => startPostern(ROOT, dir, origin, { tag: 'auth', connections: 1, signedIn: true }));
  // The open socket again with the request inspector recording every exchange (small GETs only;
  // BENCH_CONNECTOR_NODE_FLAGS apply to its connector too, to profile what the inspector costs).
  await tryStart('postern-inspect', () => startPostern(ROOT, dir, origin, { tag: 'inspect', connections: 1, inspect: true, connectorNodeFlags: flags('BENCH_CONNECTOR_NODE_FLAGS') }));
  // Scale-out: two edges on one PostgreSQL, the connector on one and the load through the other, so
  // every request crosses the edge-to-edge relay (small GETs only, against the local column above).
  await tryStart('postern-relayed', () => startPosternRelayed(ROOT, dir, origin));
  // The least a Node proxy of today's design costs (node:http + an undici Pool): small GETs only.
  await tryStart('node-floor', () => startNodeFloor(ROOT, dir, origin));
  if (nginxPath) await tryStart('nginx', () => startNginx(dir, origin));
  if (ssh) await tryStart('ssh', () => startSshTunnel(dir, origin));
  log(`paths: ${targets.map((t) => `${t.label} → 127.0.0.1:${t.port}${t.host ? ` (Host: ${t.host})` : ''}`).join('; ')}`);

  const resultOf = (t: Target): TargetResult => results.find((r) => r.key === t.key)!;
  const smallOnly = new Set<string>(['postern-signed-in', 'postern-inspect', 'postern-relayed', 'node-floor']);
  const bulkTargets = targets.filter((t) => !smallOnly.has(t.key));
  const guarded = async (t: Target, phase: string, fn: () => Promise<void>): Promise<void> => {
    try {
      await fn();
    } catch (err) {
      const message = `${phase}: ${(err as Error).message.split('\n')[0]}`;
      resultOf(t).errors.push(message);
      log(`  ${t.label.padEnd(8)} FAILED ${message}`);
    }
  };

  if (PHASES.has('small')) {
    log(`\n[1/8] small GETs: ${SMALL.connections} connections, ${SMALL.warmSeconds} s warm-up + ${SMALL.seconds} s per path`);
    for (const t of targets) await guarded(t, 'small GETs', () => phaseSmall(origin, t, resultOf(t)));
  }
  if (PHASES.has('transfer')) {
    log(`\n[2/8] single-stream 100 MiB download and upload: ${TRANSFER.warmups} unmeasured + ${TRANSFER.runs} measured runs each (median reported)`);
    for (const t of bulkTargets) await guarded(t, 'transfer', () => phaseTransfer(t, resultOf(t)));
  }
  if (PHASES.has('fairness')) {
    log(`\n[3/8] fairness: small GETs idle vs. during a bulk download read at ${FAIR.bulkRate / 1e6} MB/s (${FAIR.seconds} s each)`);
    for (const t of bulkTargets) await guarded(t, 'fairness', () => phaseFairness(dir, t, resultOf(t)));
  }
  for (const t of targets) await t.stop();

  let ws: WsResult | undefined;
  let stall: StallResult | undefined;
  if (PHASES.has('ws') && WANTED.has('postern')) {
    log(`\n[4/8] ${WS.count} idle WebSockets through one tunnel (fresh edge and connector)`);
    try {
      ws = await phaseWebSockets(dir, origin);
    } catch (err) {
      note(`WebSocket phase failed: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  if (PHASES.has('stall') && WANTED.has('postern')) {
    log(`\n[5/8] ${STALL.bytes / MiB} MiB upload to an app reading ${STALL.appRate / 1e6} MB/s, edge RSS sampled for ${STALL.seconds} s (fresh edge and connector)`);
    try {
      stall = await phaseStall(dir, origin);
    } catch (err) {
      note(`stalled-upload phase failed: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  let reconnect: ReconnectResult | undefined;
  let restart: RestartLoadResult[] | undefined;
  let soak: SoakResult | undefined;
  if (PHASES.has('reconnect') && WANTED.has('postern')) {
    log(`\n[6/8] reconnect after an edge restart: ${RECONNECT.restarts} restarts (SIGTERM, then a new edge on the same port and database); 2 connectors × ${RECONNECT.connections} tunnel connections on one socket`);
    try {
      reconnect = await measureReconnect(ROOT, dir, origin, RECONNECT, log);
      for (const f of reconnect.failures) note(`reconnect: ${f}`);
    } catch (err) {
      note(`reconnect phase failed: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  if (PHASES.has('restart') && WANTED.has('postern')) {
    log(
      `\n[7/8] connector restart under load: ${RESTART.rate} small GETs/s over ${RESTART.workers} connections; connector B of 2 stopped ` +
        `(SIGTERM drain with --grace ${RESTART.graceSeconds}s, then kill -9) and started again, ${RESTART.runs}× each`,
    );
    try {
      restart = await measureConnectorRestarts(ROOT, dir, origin, RESTART, log);
    } catch (err) {
      note(`connector-restart phase failed: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  if (PHASES.has('soak') && WANTED.has('postern')) {
    const settings = soakSettings(SOAK_SECONDS);
    log(`\n[8/8] soak: ${SOAK_SECONDS} s of mixed traffic through 2 connectors, connector B restarted ${settings.restarts}× (npm run soak runs the long one)`);
    try {
      const rig = await Rig.start(ROOT, dir, origin, { tag: 'soak', connections: settings.connections, graceSeconds: settings.graceSeconds });
      try {
        if (!(await rig.settle(15_000))) note('soak: not every tunnel connection was up 15 s after start');
        soak = await runSoak(rig, settings, log);
      } finally {
        await rig.stop();
      }
    } catch (err) {
      note(`soak phase failed: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  await origin.proc.stop();

  for (const retry of connectorRetries) note(`connector restarted: ${retry}`);
  const finishedAt = new Date();
  const measured = { results, websockets: ws, stall, reconnect, connectorRestart: restart, soak };
  const settings = {
    small: SMALL,
    transfer: TRANSFER,
    fairness: FAIR,
    websockets: WS,
    stall: STALL,
    reconnect: RECONNECT,
    restart: RESTART,
    soakSeconds: SOAK_SECONDS,
    connectorConnections: 1,
    loadGenerator: generatorText,
  };
  const json: BenchResults = {
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationSeconds: Math.round((finishedAt.getTime() - startedAt.getTime()) / 1000),
    machine,
    source,
    settings,
    ...measured,
    targets: verdicts({ ...measured, settings }),
    notes,
  };

  log(`\nResults (${machine.cpus} × ${machine.cpuModel}; load generator: ${generatorText})\n`);
  if (results.length) log(`${comparisonTable(results, SMALL.connections)}\n\n${cpuTable(results, generator)}\n`);
  log(targetsTable(json.targets));
  log('');
  for (const line of detailLines(json)) log(`- ${line}`);
  if (soak) log(`\nSoak (${fmt(soak.seconds, 0)} s)\n\n${soakReport(soak)}\n`);
  for (const n of notes) log(`- note: ${n}`);

  writeJsonAtomic(RESULTS, json);
  log(`\nwrote ${RESULTS} (${json.durationSeconds} s)`);
  // A partial run written elsewhere (BENCH_RESULTS) leaves the published figures alone.
  if (RESULTS === DEFAULT_RESULTS) log(`wrote ${writeBenchmarksDoc(ROOT)}`);
  // Data corrupted or silently truncated is a bug, not a slow figure: the run fails.
  const integrityFailures = (soak?.integrityFailures ?? 0) + (restart ?? []).reduce((n, r) => n + r.integrityFailures, 0);
  if (integrityFailures > 0) log(`FAILED: ${integrityFailures} corrupted or silently truncated answers (see above)`);
  if (env.BENCH_KEEP_TMP !== '1' && integrityFailures === 0) rmSync(dir, { recursive: true, force: true });
  else log(`kept ${dir}`);
  return integrityFailures > 0 ? 1 : 0;
}

runBounded('bench', WATCHDOG_MS, main);
