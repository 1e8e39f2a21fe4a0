/**
 * What every bench entry point (`npm run bench`, `npm run soak`) needs around its measurements: the
 * commit measured, how busy the machine already was, an atomic JSON write, and a bounded run that
 * stops every process it started on success, failure, Ctrl-C and a watchdog.
 */
import { readFileSync, renameSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { killAllNow, runCommand, sleep, stopAll } from './procs.js';

/** The commit measured, and product files changed since it (a bench of a dirty tree says so). */
export async function gitState(root: string): Promise<{ commit: string | undefined; dirty: string[] }> {
  if (process.env.BENCH_SOURCE) return { commit: process.env.BENCH_SOURCE, dirty: [] };
  try {
    const commit = (await runCommand('git', ['-C', root, 'log', '-1', '--format=%h %s'], { timeoutMs: 5000 })).trim();
    const status = await runCommand('git', ['-C', root, 'status', '--porcelain', '--', 'shared/src', 'edge/src', 'connector/src', 'cli/src'], { timeoutMs: 5000 });
    const dirty = status
      .split('\n')
      .filter((line) => line.trim())
      .map((line) => `${line.slice(3)}${line.startsWith('??') ? ' (untracked)' : ''}`);
    return { commit, dirty };
  } catch {
    return { commit: undefined, dirty: [] };
  }
}

/** Share of all CPUs busy over `ms` (from /proc/stat), to tell whether something else is loading the machine. */
export async function machineBusy(ms: number): Promise<number> {
  const read = (): { idle: number; total: number } => {
    const fields = readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    const idle = (fields[3] ?? 0) + (fields[4] ?? 0);
    return { idle, total: fields.reduce((a, b) => a + b, 0) };
  };
  const a = read();
  await sleep(ms);
  const b = read();
  return b.total > a.total ? 1 - (b.idle - a.idle) / (b.total - a.total) : 0;
}

/** Writes `value` as JSON to `path` through a temp file, so a reader never sees half a file. */
export function writeJsonAtomic(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(`${path}.tmp`, `${JSON.stringify(value, null, 2)}\n`);
  renameSync(`${path}.tmp`, path);
}

/**
 * Runs `main` (which resolves with the exit code) with every child process stopped at the end, on
 * failure, on SIGINT/SIGTERM, and once `watchdogMs` has passed.
 */
export function runBounded(what: string, watchdogMs: number, main: () => Promise<number>): void {
  let finishing = false;
  const shutdown = async (code: number, reason?: string): Promise<never> => {
    if (!finishing) {
      finishing = true;
      if (reason) process.stderr.write(`${reason}\n`);
      await Promise.race([stopAll(3000), sleep(15_000)]);
    }
    killAllNow();
    process.exit(code);
  };
  process.on('exit', killAllNow);
  process.on('SIGINT', () => void shutdown(130, `interrupted: stopping every process the ${what} started`));
  process.on('SIGTERM', () => void shutdown(143, `terminated: stopping every process the ${what} started`));
  const watchdog = setTimeout(() => void shutdown(1, `${what} exceeded ${Math.round(watchdogMs / 60_000)} minutes: stopping`), watchdogMs);
  main()
    .then(async (code) => {
      clearTimeout(watchdog);
      await shutdown(code);
    })
    .catch(async (err: Error) => {
      clearTimeout(watchdog);
      await shutdown(1, `${what} failed: ${err.stack ?? err.message}`);
    });
}
