/**
 * `npm run bench:profile`: where the edge's CPU per small request goes, written to
 * bench/results/profile-<label>.json (BENCH_PROFILE_LABEL, default "before") and rendered into
 * docs/BENCHMARKS.md. Run it on each design to compare (label "after" for the redesign).
 *
 * Two Postern paths (edge + connector, one tunnel) serve the bench origin, measured one after the
 * other with wrk small GETs (50 connections):
 *
 * 1. a plain edge: CPU µs per request of edge, connector and origin from /proc, and the system calls
 *    of edge and connector per request (`perf stat` on syscall tracepoints, counted in the kernel);
 * 2. the same edge under `node --cpu-prof`: the self time of the samples taken during the run,
 *    grouped by layer (bench/lib/cpu-profile.ts). Each layer's µs = its share × the plain edge's µs,
 *    so the profiler's own overhead is not counted.
 *
 * Knobs: BENCH_PROFILE_SECONDS (10), BENCH_PROFILE_LABEL (before), BENCH_KEEP_TMP=1 keeps the
 * .cpuprofile (open it in Chrome DevTools) and the process logs.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { cpus, release, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeBenchmarksDoc } from './docs.js';
import { breakdown, type CpuProfile } from './lib/cpu-profile.js';
import { gitState, machineBusy, runBounded, writeJsonAtomic } from './lib/lifecycle.js';
import { CpuMeter, ForeignCpuMeter, loadGenerator, smallGets, type LoadResult } from './lib/load.js';
import type { ProfileSummary, SyscallsPerRequest } from './lib/profile-summary.js';
import { sleep } from './lib/procs.js';
import { fmt, log } from './lib/report.js';
import { countSyscalls, perfUnavailable, type SyscallCounts } from './lib/syscalls.js';
import { startOrigin, startPostern, type Origin, type PosternTarget } from './lib/targets.js';
import { getText } from './lib/transfer.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const env = process.env;
const LABEL = env.BENCH_PROFILE_LABEL ?? 'before';
const OUT = join(ROOT, `bench/results/profile-${LABEL}.json`);
const SECONDS = Number(env.BENCH_PROFILE_SECONDS ?? 10);
const CONNECTIONS = 50;
const WARM_SECONDS = 3;
/** Syscalls are counted inside the load, away from its ramp-up and end. */
const SYSCALL_MARGIN_S = 1;
/** 500 µs between samples: ~2 per request-millisecond of edge CPU, a few % overhead. */
const PROFILE_INTERVAL_US = 500;

/** Above this much foreign CPU (% of one core) during a run, its figures are flagged (as in the bench). */
const DISTURBED = 15;

const monotonicUs = (): number => Number(process.hrtime.bigint() / 1000n);

async function warmUp(t: PosternTarget): Promise<void> {
  const { status } = await getText(t, '/');
  if (status !== 200) throw new Error(`GET / through ${t.label} answered ${status}`);
  await smallGets(t, { connections: CONNECTIONS, seconds: WARM_SECONDS });
  await sleep(500);
}

function perRequest(counts: SyscallCounts, rps: number): SyscallsPerRequest {
  const requests = rps * counts.seconds;
  const byName = Object.fromEntries(
    Object.entries(counts.byName)
      .map(([name, n]) => [name, n / requests] as const)
      .filter(([, v]) => v >= 0.005)
      .sort((a, b) => b[1] - a[1]),
  );
  return { total: counts.total / requests, byName };
}

/** Plain edge: CPU per request from /proc, system calls per request from perf. */
async function measurePlain(origin: Origin, t: PosternTarget, notes: string[]): Promise<{ load: LoadResult; cpuUs: Record<string, number>; foreignCpu: number; syscalls?: ProfileSummary['syscalls'] }> {
  await warmUp(t);
  const meter = new CpuMeter(new Map([['edge', t.edge.pid], ['connector', t.connector.pid], ['origin', origin.proc.pid]]));
  const perfWhyNot = perfUnavailable();
  if (perfWhyNot) notes.push(`system calls not counted: ${perfWhyNot}`);
  const perfSeconds = SECONDS - 2 * SYSCALL_MARGIN_S;
  const counting = perfWhyNot
    ? undefined
    : sleep(SYSCALL_MARGIN_S * 1000).then(() => Promise.all([countSyscalls(t.edge.pid, perfSeconds), countSyscalls(t.connector.pid, perfSeconds)]));
  const foreign = new ForeignCpuMeter();
  const load = await smallGets(t, { connections: CONNECTIONS, seconds: SECONDS });
  const foreignCpu = foreign.read();
  const { cpu } = meter.read();
  const cpuUs = Object.fromEntries(Object.entries(cpu).map(([name, s]) => [name, (s * 1e6) / Math.max(1, load.ok)]));
  let syscalls: ProfileSummary['syscalls'];
  if (counting) {
    try {
      const [edge, connector] = await counting;
      syscalls = { edge: perRequest(edge, load.rps), connector: perRequest(connector, load.rps) };
    } catch (err) {
      notes.push(`system calls not counted: ${(err as Error).message.split('\n')[0]}`);
    }
  }
  return { load, cpuUs, foreignCpu, ...(syscalls ? { syscalls } : {}) };
}

/** Profiled edge: which layers the busy samples fall in, during the measured run only. */
async function measureProfiled(t: PosternTarget, profileDir: string): Promise<{ load: LoadResult; foreignCpu: number; profile: ProfileSummary['profile'] }> {
  await warmUp(t);
  const fromUs = monotonicUs();
  const foreign = new ForeignCpuMeter();
  const load = await smallGets(t, { connections: CONNECTIONS, seconds: SECONDS });
  const foreignCpu = foreign.read();
  const toUs = monotonicUs();
  await t.stop(); // the profile is written when the edge exits
  const file = readdirSync(profileDir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error(`the edge wrote no .cpuprofile into ${profileDir}`);
  const profile = JSON.parse(readFileSync(join(profileDir, file), 'utf8')) as CpuProfile;
  return { load, foreignCpu, profile: { intervalUs: PROFILE_INTERVAL_US, ...breakdown(profile, { fromUs, toUs }) } };
}

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'postern-profile-'));
  const startedAt = new Date();
  log(`Postern edge profile "${LABEL}" — ${startedAt.toISOString()}; logs in ${dir}`);
  const notes: string[] = [];
  const busy = await machineBusy(1500);
  if (busy > 0.1) notes.push(`the machine was already ${(busy * 100).toFixed(0)}% busy before the run (other processes): figures are noisy`);
  if (loadGenerator() !== 'wrk') notes.push('wrk is not installed: load from autocannon inside this process');
  const origin = await startOrigin(ROOT, dir);
  log(`[1/2] plain edge: ${SECONDS} s of small GETs, CPU from /proc, system calls from perf stat`);
  const plainTarget = await startPostern(ROOT, dir, origin, { tag: 'plain', connections: 1 });
  const plain = await measurePlain(origin, plainTarget, notes);
  await plainTarget.stop();
  log(`  ${fmt(plain.load.rps, 0)} req/s; CPU µs/request: ${Object.entries(plain.cpuUs).map(([k, v]) => `${k} ${fmt(v, 1)}`).join(', ')}`);
  if (plain.syscalls) log(`  system calls per request: edge ${fmt(plain.syscalls.edge.total, 2)}, connector ${fmt(plain.syscalls.connector.total, 2)}`);

  log(`[2/2] profiled edge (--cpu-prof, ${PROFILE_INTERVAL_US} µs sampling): ${SECONDS} s of small GETs`);
  const profileDir = join(dir, 'cpu-prof');
  const profiledTarget = await startPostern(ROOT, dir, origin, {
    tag: 'profiled',
    connections: 1,
    edgeNodeFlags: ['--cpu-prof', `--cpu-prof-dir=${profileDir}`, `--cpu-prof-interval=${PROFILE_INTERVAL_US}`],
  });
  const profiled = await measureProfiled(profiledTarget, profileDir);
  await origin.proc.stop();
  const edgeUs = plain.cpuUs.edge ?? NaN;
  for (const [run, pct] of [['plain', plain.foreignCpu], ['profiled', profiled.foreignCpu]] as const) {
    if (pct > DISTURBED) notes.push(`${run} run: other processes used ${pct.toFixed(0)}% of a core meanwhile (figures disturbed)`);
  }
  for (const layer of profiled.profile.layers.slice(0, 8)) log(`  ${fmt(layer.share * 100, 1).padStart(5)} %  ${fmt(layer.share * edgeUs, 1).padStart(5)} µs  ${layer.name}`);

  const source = await gitState(ROOT);
  const summary: ProfileSummary = {
    label: LABEL,
    measuredAt: startedAt.toISOString(),
    durationSeconds: Math.round((Date.now() - startedAt.getTime()) / 1000),
    source,
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, kernel: release(), node: process.version, busyBeforeRun: +busy.toFixed(3) },
    settings: { connections: CONNECTIONS, seconds: SECONDS, warmSeconds: WARM_SECONDS, loadGenerator: loadGenerator() },
    rps: plain.load.rps,
    p99: plain.load.p99,
    cpuUs: plain.cpuUs,
    ...(plain.syscalls ? { syscalls: plain.syscalls } : {}),
    profiledRps: profiled.load.rps,
    foreignCpu: { plain: +plain.foreignCpu.toFixed(1), profiled: +profiled.foreignCpu.toFixed(1) },
    profile: profiled.profile,
    notes,
  };
  writeJsonAtomic(OUT, summary);
  log(`wrote ${OUT}`);
  log(`wrote ${writeBenchmarksDoc(ROOT)}`);
  if (env.BENCH_KEEP_TMP === '1') log(`kept ${dir}`);
  else rmSync(dir, { recursive: true, force: true });
  return 0;
}

runBounded('profile', 5 * 60_000, main);
