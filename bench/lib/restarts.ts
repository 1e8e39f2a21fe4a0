/**
 * The bench's restart phases, on a Rig (one edge, two connectors, one socket):
 *
 * - reconnect: the edge is restarted (SIGTERM, then a new edge on the same port and database)
 *   several times; measured from the new edge listening until the socket answers 200 again, and
 *   until every tunnel connection of both connectors is back.
 * - connector restart: under a steady small-GET load, connector B is stopped (SIGTERM drain, or
 *   kill -9 for comparison) and started again; every request is checked and failures counted.
 */
import { pacedSmallGets, Tally } from './checked.js';
import { sleep } from './procs.js';
import { fmt, median } from './report.js';
import { Rig, type EdgeRestart } from './rig.js';
import type { Origin } from './targets.js';

export interface Spread {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

const spread = (values: readonly number[]): Spread | undefined =>
  values.length ? { median: median(values), min: Math.min(...values), max: Math.max(...values) } : undefined;

export const spreadText = (s: Spread | undefined, unit = 's', scale = 1000): string =>
  s ? `${fmt(s.median / scale, 2)} ${unit} (min ${fmt(s.min / scale, 2)}, max ${fmt(s.max / scale, 2)})` : '—';

export interface ReconnectResult {
  readonly restarts: readonly EdgeRestart[];
  /** New edge listening → socket answers 200 (ms). */
  readonly serving: Spread | undefined;
  /** New edge listening → every tunnel connection of both connectors up (ms). */
  readonly allUp: Spread | undefined;
  readonly failures: readonly string[];
}

export interface ReconnectOptions {
  readonly restarts: number;
  readonly connections: number;
  /** Give up on one restart after this long. */
  readonly timeoutMs: number;
}

export async function measureReconnect(root: string, dir: string, origin: Origin, opts: ReconnectOptions, log: (line: string) => void): Promise<ReconnectResult> {
  const rig = await Rig.start(root, dir, origin, { tag: 'reconnect', connections: opts.connections, graceSeconds: 2 });
  const restarts: EdgeRestart[] = [];
  const failures: string[] = [];
  try {
    if (!(await rig.settle(15_000))) failures.push('not every tunnel connection was up 15 s after start');
    for (let i = 1; i <= opts.restarts; i++) {
      try {
        const r = await rig.restartEdge(opts.timeoutMs);
        restarts.push(r);
        log(
          `  edge restart ${i}/${opts.restarts}: old edge stopped in ${fmt(r.stopMs / 1000, 2)} s, new one listening after ${fmt(r.startMs / 1000, 2)} s; ` +
            `socket serving ${fmt(r.servingMs / 1000, 2)} s later, all ${2 * opts.connections} tunnel connections ${r.allUpMs === undefined ? 'NOT all back' : `${fmt(r.allUpMs / 1000, 2)} s later`}`,
        );
      } catch (err) {
        failures.push(`restart ${i}: ${(err as Error).message.split('\n')[0]}`);
        log(`  edge restart ${i}/${opts.restarts} FAILED: ${(err as Error).message.split('\n')[0]}`);
      }
      await sleep(1000);
    }
  } finally {
    await rig.stop();
  }
  const allUp = restarts.map((r) => r.allUpMs).filter((v): v is number => v !== undefined);
  if (allUp.length < restarts.length) failures.push(`${restarts.length - allUp.length} restart(s): not every tunnel connection came back within ${opts.timeoutMs / 1000} s`);
  return { restarts, serving: spread(restarts.map((r) => r.servingMs)), allUp: spread(allUp), failures };
}

export interface RestartLoadOptions {
  readonly runs: number;
  readonly connections: number;
  readonly graceSeconds: number;
  readonly workers: number;
  readonly rate: number;
  /** Load before the signal and after the restarted connector is ready again. */
  readonly beforeMs: number;
  readonly afterMs: number;
}

export interface RestartLoadResult {
  readonly signal: 'SIGTERM' | 'SIGKILL';
  readonly total: number;
  readonly failed: number;
  /** Corrupted or silently truncated among them (must be 0). */
  readonly integrityFailures: number;
  readonly reasons: Record<string, number>;
  /** Failed requests by when they started: before the signal, while the connector stopped, while it started again, after. */
  readonly when: Record<'before' | 'stopping' | 'starting' | 'after', number>;
  readonly stopMs: readonly number[];
  readonly readyMs: readonly number[];
  /** Requests per second actually sent. */
  readonly rate: number;
}

export async function measureConnectorRestarts(
  root: string,
  dir: string,
  origin: Origin,
  opts: RestartLoadOptions,
  log: (line: string) => void,
): Promise<RestartLoadResult[]> {
  const rig = await Rig.start(root, dir, origin, { tag: 'restart', connections: opts.connections, graceSeconds: opts.graceSeconds });
  const results: RestartLoadResult[] = [];
  try {
    await rig.settle(15_000);
    for (const signal of ['SIGTERM', 'SIGKILL'] as const) {
      const tally = new Tally(['small GET']);
      const when = { before: 0, stopping: 0, starting: 0, after: 0 };
      const stopMs: number[] = [];
      const readyMs: number[] = [];
      let total = 0;
      let seconds = 0;
      for (let run = 0; run < opts.runs; run++) {
        if (!(await rig.settle(15_000))) log('  note: not every tunnel connection was up 15 s after the previous restart');
        let stopping = Infinity;
        let starting = Infinity;
        let after = Infinity;
        let done = false;
        const loadStart = performance.now();
        const load = pacedSmallGets(rig.endpoint, { workers: opts.workers, rate: opts.rate, timeoutMs: 10_000, idPrefix: `${signal}-${run}`, going: () => !done }, (outcome, startedMs) => {
          tally.record('small GET', outcome);
          if (outcome.ok) return;
          const t = loadStart + startedMs;
          when[t < stopping ? 'before' : t < starting ? 'stopping' : t < after ? 'starting' : 'after']++;
        });
        try {
          await sleep(opts.beforeMs);
          stopping = performance.now();
          const r = await rig.restartConnector(1, signal);
          starting = stopping + r.stopMs;
          after = starting + r.readyMs;
          stopMs.push(r.stopMs);
          readyMs.push(r.readyMs);
          await sleep(opts.afterMs);
        } finally {
          done = true; // also when the restart failed: the load must not outlive the phase
        }
        const res = await load;
        total += res.total;
        seconds += res.seconds;
      }
      const summary = tally.summary()['small GET']!;
      const failed = total - summary.ok;
      const result: RestartLoadResult = {
        signal,
        total,
        failed,
        integrityFailures: tally.integrityFailures(),
        reasons: { ...summary.errors, ...summary.truncated, ...summary.corrupt },
        when,
        stopMs,
        readyMs,
        rate: total / seconds,
      };
      results.push(result);
      log(
        `  ${signal === 'SIGTERM' ? 'SIGTERM drain' : 'kill -9'}: ${failed}/${total} small GETs failed (${fmt((100 * failed) / Math.max(1, total), 2)}%) over ${opts.runs} restarts at ${fmt(result.rate, 0)} req/s` +
          `${failed ? ` — ${Object.entries(result.reasons).map(([k, v]) => `${v}× ${k}`).join(', ')}; started before/stopping/starting/after: ${when.before}/${when.stopping}/${when.starting}/${when.after}` : ''}; ` +
          `connector stopped in ${stopMs.map((v) => fmt(v / 1000, 1)).join('/')} s, ready again in ${readyMs.map((v) => fmt(v / 1000, 1)).join('/')} s`,
      );
    }
  } finally {
    await rig.stop();
  }
  return results;
}
