/**
 * Small-request load with `wrk` (a C load generator, Debian package `wrk`): it costs the machine a
 * fraction of what autocannon does, so the paths it measures get the cores. A Lua `done` hook prints
 * the figures as one JSON line; wrk's own latency percentiles are in microseconds.
 */
import { rmSync, writeFileSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCommand } from './procs.js';
import type { Endpoint } from './transfer.js';

export const WRK_HINT = 'apt-get install wrk   (Debian/Ubuntu; or build it from https://github.com/wg/wrk)';

/** Threads for wrk; two, as in the measurements (`wrk -t2 -c50`). */
const THREADS = 2;
const MARKER = 'POSTERN_WRK ';

const SCRIPT = `-- Written by bench/lib/wrk.ts: the run's figures as one JSON line.
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('${MARKER}{"requests":%.0f,"durationUs":%.0f,"bytes":%.0f,"connect":%.0f,"read":%.0f,"write":%.0f,"status":%.0f,"timeout":%.0f,"p50":%.0f,"p90":%.0f,"p99":%.0f,"max":%.0f}\\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`;

export interface WrkFigures {
  readonly requests: number;
  readonly durationUs: number;
  readonly bytes: number;
  readonly connect: number;
  readonly read: number;
  readonly write: number;
  /** Answers with a status of 400 or more (wrk's own count). */
  readonly status: number;
  readonly timeout: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

/** Finds the figures line in wrk's output; throws with the output when it is missing or malformed. */
export function parseWrkOutput(stdout: string): WrkFigures {
  const line = stdout.split('\n').find((l) => l.startsWith(MARKER));
  if (!line) throw new Error(`wrk printed no figures:\n${stdout.slice(0, 2000)}`);
  const parsed = JSON.parse(line.slice(MARKER.length)) as Record<string, unknown>;
  const keys: ReadonlyArray<keyof WrkFigures> = ['requests', 'durationUs', 'bytes', 'connect', 'read', 'write', 'status', 'timeout', 'p50', 'p90', 'p99', 'max'];
  for (const key of keys) {
    if (typeof parsed[key] !== 'number' || !Number.isFinite(parsed[key])) throw new Error(`wrk figures without a number for ${key}: ${line}`);
  }
  return parsed as unknown as WrkFigures;
}

let scriptPath: string | undefined;

function script(): string {
  if (!scriptPath) {
    scriptPath = join(tmpdir(), `postern-bench-wrk-${process.pid}.lua`);
    writeFileSync(scriptPath, SCRIPT);
    const path = scriptPath;
    process.once('exit', () => rmSync(path, { force: true }));
  }
  return scriptPath;
}

/** CPU seconds of this process's children that have been reaped so far (/proc/self/stat cutime + cstime). */
export function reapedChildrenCpuSeconds(): number {
  const stat = readFileSync('/proc/self/stat', 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[13]) + Number(fields[14])) / 100; // fields 16, 17 of proc(5); USER_HZ 100
}

export interface WrkRun {
  readonly figures: WrkFigures;
  /** CPU seconds wrk itself used (it is reaped when it exits, so its usage lands in our cutime). */
  readonly cpuSeconds: number;
}

/** Runs wrk for `seconds` against `ep` with `connections` keep-alive connections. */
export async function runWrk(ep: Endpoint, opts: { connections: number; seconds: number; path?: string }): Promise<WrkRun> {
  // "Host", capitalised: wrk adds its own unless a header of exactly that name is given.
  const headers = Object.entries({ Host: ep.host ?? `127.0.0.1:${ep.port}`, ...ep.headers }).flatMap(([name, value]) => ['-H', `${name}: ${value}`]);
  const before = reapedChildrenCpuSeconds();
  const stdout = await runCommand(
    'wrk',
    ['-t', String(Math.min(THREADS, opts.connections)), '-c', String(opts.connections), '-d', `${opts.seconds}s`, '--timeout', '10s', '-s', script(), ...headers, `http://127.0.0.1:${ep.port}${opts.path ?? '/'}`],
    { timeoutMs: (opts.seconds + 30) * 1000 },
  );
  return { figures: parseWrkOutput(stdout), cpuSeconds: reapedChildrenCpuSeconds() - before };
}
