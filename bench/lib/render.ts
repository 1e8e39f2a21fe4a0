/**
 * The bench's tables, rendered from results alone: `npm run bench` prints them and
 * bench/docs.ts writes them into docs/BENCHMARKS.md, so the two never differ.
 */
import { fmt, kib, mdTable, mib } from './report.js';
import { spreadText } from './restarts.js';
import type { BenchResults, TargetResult } from './results.js';
import { verdictText } from './verdicts.js';

/** Process trees metered during small GETs, in table order; pairs are summed where both ran. */
const CPU_ROWS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['origin', ['origin']],
  ['edge', ['edge']],
  ['connector', ['connector']],
  ['edge + connector', ['edge', 'connector']],
  ['tunnel edge (relayed: holds the connector)', ['tunnel edge']],
  ['both edges (relayed)', ['edge', 'tunnel edge']],
  ['both edges + connector (relayed)', ['edge', 'tunnel edge', 'connector']],
  ['node floor proxy', ['node floor']],
  ['nginx', ['nginx']],
  ['ssh', ['ssh']],
  ['sshd', ['sshd']],
  ['ssh + sshd', ['ssh', 'sshd']],
];

function cpuUs(r: TargetResult, names: readonly string[]): string {
  const us = r.small?.cpuUs;
  if (!us || names.some((n) => us[n] === undefined)) return '—';
  return fmt(names.reduce((sum, n) => sum + us[n]!, 0), 1);
}

export function comparisonTable(results: BenchResults['results'], connections: number): string {
  const header = ['metric', ...results.map((r) => r.label)];
  const row = (name: string, pick: (r: TargetResult) => string): string[] => [name, ...results.map(pick)];
  const ssh = results.find((r) => r.key === 'ssh');
  const vsSsh = (r: TargetResult): string => (r.small && ssh?.small ? `${fmt(r.small.rps / ssh.small.rps, 2)}×` : '—');
  return mdTable(header, [
    row(`small GET req/s (${connections} conn)`, (r) => fmt(r.small?.rps, 0)),
    row('small GETs vs ssh -R', vsSsh),
    row('small GET p50 ms', (r) => fmt(r.small?.p50, 2)),
    row('small GET p99 ms', (r) => fmt(r.small?.p99, 2)),
    row('download 100 MiB, MiB/s', (r) => fmt(r.download?.mibps, 0)),
    row('upload 100 MiB, MiB/s', (r) => fmt(r.upload?.mibps, 0)),
    row('fairness: idle req/s', (r) => fmt(r.fairness?.idle.rps, 0)),
    row('fairness: req/s during bulk', (r) => fmt(r.fairness?.loaded.rps, 0)),
    row('fairness: kept of idle rate', (r) => (r.fairness ? `${fmt(r.fairness.ratio * 100, 0)}%` : '—')),
    row('fairness: p99 ms idle → bulk', (r) => (r.fairness ? `${fmt(r.fairness.idle.p99, 1)} → ${fmt(r.fairness.loaded.p99, 1)}` : '—')),
    row('fairness: bulk ran at MB/s', (r) => fmt(r.fairness?.bulkMBps, 0)),
    row("other processes' CPU, max %", (r) => {
      const values = Object.values(r.foreignCpu);
      return values.length ? fmt(Math.max(...values), 0) : '—';
    }),
  ]);
}

/** CPU µs per answered small GET, per process, for each path (rows with no figure anywhere are left out). */
export function cpuTable(results: BenchResults['results'], generator: string): string {
  const rows = CPU_ROWS.filter(([, names]) => results.some((r) => cpuUs(r, names) !== '—')).map(([label, names]) => [label, ...results.map((r) => cpuUs(r, names))]);
  rows.push([`load generator (${generator})`, ...results.map((r) => fmt(r.small ? (r.small.generatorCpuSeconds * 1e6) / Math.max(1, r.small.ok) : undefined, 1))]);
  return mdTable(['CPU µs per small GET', ...results.map((r) => r.label)], rows);
}

export function targetsTable(targets: BenchResults['targets']): string {
  return mdTable(
    ['target', 'measured', 'goal', 'verdict'],
    targets.map((t) => [t.target, t.value, t.goal, verdictText(t)]),
  );
}

/** One line per measurement detail that has no column: memory, stalls, restarts, errors. */
export function detailLines(b: Pick<BenchResults, 'results' | 'websockets' | 'stall' | 'reconnect' | 'connectorRestart'>): string[] {
  const out: string[] = [];
  const ws = b.websockets;
  if (ws) {
    out.push(
      `idle WebSockets: ${ws.opened}/${ws.requested} open (${ws.stillOpen} still open after 3 s, origin held ${ws.originSaw}), ` +
        `edge +${kib(ws.edgePerStream)} KiB/stream (${mib(ws.edgeBefore)} → ${mib(ws.edgeAfter)} MiB), ` +
        `connector +${kib(ws.connectorPerStream)} KiB/stream (${mib(ws.connectorBefore)} → ${mib(ws.connectorAfter)} MiB)`,
    );
  }
  const stall = b.stall;
  if (stall) {
    out.push(
      `stalled upload: client pushed ${fmt(stall.clientSentMiB, 0)} MiB while the app read ${fmt(stall.appReceivedMiB, 0)} MiB in ${fmt(stall.seconds, 0)} s; ` +
        `edge RSS ${mib(stall.edgeBaseline)} MiB → peak ${mib(stall.edgePeak)} MiB; connector peak +${mib(stall.connectorGrowthPeak)} MiB`,
    );
  }
  const local = b.results.find((r) => r.key === 'postern')?.small;
  const relayed = b.results.find((r) => r.key === 'postern-relayed')?.small;
  if (relayed) {
    const vsLocal = local ? ` against ${fmt(local.rps, 0)} local (${fmt(relayed.rps / local.rps, 2)}×), p99 ${fmt(local.p99, 2)} → ${fmt(relayed.p99, 2)} ms` : '';
    out.push(
      `relayed small GETs (two edges on one PostgreSQL, connector on one, load through the other): ${fmt(relayed.rps, 0)} req/s${vsLocal}; ` +
        `CPU µs per request: edge taking the request ${fmt(relayed.cpuUs.edge, 1)}, edge holding the tunnel ${fmt(relayed.cpuUs['tunnel edge'], 1)}` +
        `${local ? ` (one local edge: ${fmt(local.cpuUs.edge, 1)})` : ''}`,
    );
  }
  for (const r of b.results) for (const e of r.errors) out.push(`${r.label}: ${e}`);
  const reconnect = b.reconnect;
  if (reconnect) {
    out.push(
      `edge restarts (${reconnect.restarts.length}): socket serving again ${spreadText(reconnect.serving)} after the new edge listened, ` +
        `all tunnel connections back ${spreadText(reconnect.allUp)}; the old edge took ${reconnect.restarts.map((r) => fmt(r.stopMs / 1000, 1)).join('/')} s to stop`,
    );
  }
  for (const r of b.connectorRestart ?? []) {
    out.push(
      `connector ${r.signal === 'SIGTERM' ? 'SIGTERM drain' : 'kill -9'} under ${fmt(r.rate, 0)} small GETs/s: ${r.failed}/${r.total} failed` +
        `${r.failed ? ` (${Object.entries(r.reasons).map(([k, v]) => `${v}× ${k}`).join(', ')}; by start time: ${r.when.before} before the signal, ${r.when.stopping} while it stopped, ${r.when.starting} while it started again, ${r.when.after} after)` : ''}` +
        `; stopped in ${r.stopMs.map((v) => fmt(v / 1000, 1)).join('/')} s`,
    );
  }
  return out;
}
