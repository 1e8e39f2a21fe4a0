/**
 * Small-request load: with wrk (C, a child process) when it is installed, else with autocannon
 * inside the bench process, which eats a core of its own and reads about half the rate on two
 * cores. With autocannon, latency percentiles are computed from every 2xx response time it reports
 * (float milliseconds), not from its histogram, which rounds to whole milliseconds.
 */
import autocannon from 'autocannon';
import { readdirSync, readFileSync } from 'node:fs';
import { which } from './targets.js';
import type { Endpoint } from './transfer.js';
import { runWrk } from './wrk.js';

export type LoadGenerator = 'wrk' | 'autocannon';

/** wrk when installed; `BENCH_LOAD=autocannon` forces autocannon (to compare the two). */
export function loadGenerator(): LoadGenerator {
  return process.env.BENCH_LOAD === 'autocannon' || !which('wrk') ? 'autocannon' : 'wrk';
}

export interface LoadResult {
  /** 2xx responses per second over the run. */
  readonly rps: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly ok: number;
  readonly non2xx: number;
  readonly errors: number;
  readonly timeouts: number;
  readonly seconds: number;
  readonly generator: LoadGenerator;
  /** CPU the load generator itself used during the run. */
  readonly generatorCpuSeconds: number;
}

export interface LoadOptions {
  readonly connections: number;
  readonly seconds: number;
  readonly path?: string;
}

export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return NaN;
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index]!;
}

export function smallGets(ep: Endpoint, opts: LoadOptions): Promise<LoadResult> {
  return loadGenerator() === 'wrk' ? wrkGets(ep, opts) : autocannonGets(ep, opts);
}

async function wrkGets(ep: Endpoint, opts: LoadOptions): Promise<LoadResult> {
  const { figures: f, cpuSeconds } = await runWrk(ep, opts);
  const seconds = f.durationUs / 1e6;
  const ok = f.requests - f.status;
  return {
    rps: ok / seconds,
    p50: f.p50 / 1000,
    p90: f.p90 / 1000,
    p99: f.p99 / 1000,
    max: f.max / 1000,
    ok,
    non2xx: f.status,
    errors: f.connect + f.read + f.write,
    timeouts: f.timeout,
    seconds,
    generator: 'wrk',
    generatorCpuSeconds: cpuSeconds,
  };
}

function autocannonGets(ep: Endpoint, opts: LoadOptions): Promise<LoadResult> {
  const cpuBefore = process.cpuUsage();
  return new Promise((resolve, reject) => {
    let latencies = new Float64Array(1 << 16);
    let count = 0;
    const instance = autocannon(
      {
        url: `http://127.0.0.1:${ep.port}${opts.path ?? '/'}`,
        connections: opts.connections,
        pipelining: 1,
        duration: opts.seconds,
        timeout: 10,
        headers: { host: ep.host ?? `127.0.0.1:${ep.port}`, ...ep.headers },
      },
      (err, result) => {
        if (err) return reject(err instanceof Error ? err : new Error(String(err)));
        const sorted = latencies.subarray(0, count).sort();
        resolve({
          rps: result['2xx'] / result.duration,
          p50: percentile(sorted, 50),
          p90: percentile(sorted, 90),
          p99: percentile(sorted, 99),
          max: count > 0 ? sorted[count - 1]! : NaN,
          ok: result['2xx'],
          non2xx: result.non2xx,
          errors: result.errors,
          timeouts: result.timeouts,
          seconds: result.duration,
          generator: 'autocannon',
          generatorCpuSeconds: ((u) => (u.user + u.system) / 1e6)(process.cpuUsage(cpuBefore)),
        });
      },
    );
    instance.on('response', (_client, statusCode, _bytes, responseTime) => {
      if (statusCode < 200 || statusCode >= 300) return;
      if (count === latencies.length) {
        const grown = new Float64Array(latencies.length * 2);
        grown.set(latencies);
        latencies = grown;
      }
      latencies[count++] = responseTime;
    });
  });
}

/** CPU seconds (user + system) used so far by a process and all its descendants (sshd sessions call setsid). */
export function treeCpuSeconds(rootPid: number): number {
  const ticks = 100; // USER_HZ on Linux
  const parent = new Map<number, number>();
  const cpu = new Map<number, number>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // Fields after the command name (which may hold spaces) start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const pid = Number(entry);
    parent.set(pid, Number(fields[1])); // field 4: ppid
    cpu.set(pid, (Number(fields[11]) + Number(fields[12])) / ticks); // fields 14, 15: utime, stime
  }
  let total = 0;
  for (const [pid, seconds] of cpu) {
    for (let p: number | undefined = pid, depth = 0; p !== undefined && p > 1 && depth < 32; p = parent.get(p), depth++) {
      if (p === rootPid) {
        total += seconds;
        break;
      }
    }
  }
  return total;
}

/** Measures the CPU time of named process trees over an interval. */
export class CpuMeter {
  private readonly start = new Map<string, number>();
  private readonly startedAt = performance.now();

  constructor(private readonly groups: ReadonlyMap<string, number>) {
    for (const [name, pid] of this.groups) this.start.set(name, treeCpuSeconds(pid));
  }

  /** CPU seconds each tree used since the start, and the wall seconds elapsed. */
  read(): { seconds: number; cpu: Record<string, number> } {
    const seconds = (performance.now() - this.startedAt) / 1000;
    const cpu: Record<string, number> = {};
    for (const [name, pid] of this.groups) cpu[name] = treeCpuSeconds(pid) - this.start.get(name)!;
    return { seconds, cpu };
  }
}

interface ProcStat {
  readonly ppid: number;
  /** utime + stime + cutime + cstime, in ticks: reaped children count towards their parent. */
  readonly ticks: number;
}

function readProcStats(): Map<number, ProcStat> {
  const out = new Map<number, ProcStat>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      out.set(Number(entry), { ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) });
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

/** CPU ticks spent in user and system mode by the whole machine (/proc/stat; no irq, softirq or steal). */
function machineBusyTicks(): number {
  const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return (fields[0] ?? 0) + (fields[1] ?? 0) + (fields[2] ?? 0);
}

/** CPU ticks of this process and every descendant, including children they already reaped. */
function ownTicks(): number {
  const stats = readProcStats();
  const mine = (pid: number): boolean => {
    for (let p: number | undefined = pid, depth = 0; p !== undefined && p > 1 && depth < 64; p = stats.get(p)?.ppid, depth++) {
      if (p === process.pid) return true;
    }
    return false;
  };
  let ticks = 0;
  for (const [pid, s] of stats) if (mine(pid)) ticks += s.ticks;
  return ticks;
}

/**
 * CPU used by everything else on the machine while a measurement runs, as % of one core: the
 * machine's busy time minus this bench's own process tree. The bench shares the machine with
 * whatever else runs; a disturbed figure says so instead of passing silently.
 */
export class ForeignCpuMeter {
  private readonly machineStart = machineBusyTicks();
  private readonly ownStart = ownTicks();
  private readonly startedAt = performance.now();

  read(): number {
    const seconds = (performance.now() - this.startedAt) / 1000;
    const foreign = machineBusyTicks() - this.machineStart - (ownTicks() - this.ownStart);
    return seconds > 0 ? Math.max(0, foreign / 100 / seconds) * 100 : 0;
  }
}
