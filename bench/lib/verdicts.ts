/**
 * The targets a bench run is judged against (issue 9, with the earlier issues' memory and fault
 * targets), as measured / goal / verdict rows. Pure: bench/verdicts.test.ts feeds it made-up runs
 * to prove each verdict turns "NOT met" when its figure misses, and "n/a" when it was not measured.
 */
import { fmt, mib } from './report.js';
import type { RestartLoadResult } from './restarts.js';
import type { BenchResults, TargetKey, TargetResult, Verdict } from './results.js';

export type VerdictInput = Pick<BenchResults, 'results' | 'websockets' | 'stall' | 'reconnect' | 'connectorRestart' | 'soak' | 'settings'>;

/** Issue 9's goals, in one place (the README of the bench rows and the verdicts read them). */
export const GOALS = {
  edgeUs: 25,
  edgeConnectorUs: 50,
  smallVsSsh: 0.6,
  smallVsSshStretch: 1.0,
  addedP99Ms: 5,
  signedInVsOpen: 0.9,
  downloadVsSsh: 1.0,
  uploadVsSsh: 1.2,
  fairnessKept: 0.8,
  fairnessP99Ms: 20,
  wsBytesPerStream: 24 * 1024,
  stallGrowthBytes: 64 * 1024 * 1024,
} as const;

const NOT_MEASURED = 'not measured';

const ratio = (a: number | undefined, b: number | undefined): number | undefined => (a !== undefined && b !== undefined && b > 0 ? a / b : undefined);

/** CPU µs per small request of a set of processes, when every one of them was metered. */
export function cpuUsOf(r: TargetResult | undefined, names: readonly string[]): number | undefined {
  const us = r?.small?.cpuUs;
  if (!us || names.some((n) => us[n] === undefined)) return undefined;
  return names.reduce((sum, n) => sum + us[n]!, 0);
}

export function verdicts(input: VerdictInput): Verdict[] {
  const by = (key: TargetKey): TargetResult | undefined => input.results.find((r) => r.key === key);
  const p = by('postern');
  const d = by('direct');
  const s = by('ssh');
  const out: Verdict[] = [];
  const add = (target: string, value: number | undefined, text: (v: number) => string, goal: string, ok: (v: number) => boolean): void => {
    out.push(value === undefined ? { target, value: NOT_MEASURED, goal, met: null } : { target, value: text(value), goal, met: ok(value) });
  };
  const info = (target: string, value: number | undefined, text: (v: number) => string, goal: string): void => {
    out.push({ target, value: value === undefined ? NOT_MEASURED : text(value), goal, met: null, info: true });
  };
  const us = (v: number): string => `${v.toFixed(1)} µs`;
  const times = (v: number): string => `${v.toFixed(2)}×`;

  add('edge CPU per small request', cpuUsOf(p, ['edge']), us, `≤ ${GOALS.edgeUs} µs`, (v) => v <= GOALS.edgeUs);
  add('edge + connector CPU per small request', cpuUsOf(p, ['edge', 'connector']), us, `≤ ${GOALS.edgeConnectorUs} µs`, (v) => v <= GOALS.edgeConnectorUs);
  info('ssh + sshd CPU per small request', cpuUsOf(s, ['ssh', 'sshd']), us, '(reference)');
  info('Node floor CPU per small request (node:http + undici Pool)', cpuUsOf(by('node-floor'), ['node floor']), us, '(reference: the least today’s design could cost)');
  const smallVsSsh = ratio(p?.small?.rps, s?.small?.rps);
  add('small GETs vs ssh -R', smallVsSsh, times, `≥ ${GOALS.smallVsSsh.toFixed(1)}×`, (v) => v >= GOALS.smallVsSsh);
  add('small GETs vs ssh -R, stretch', smallVsSsh, times, `≥ ${GOALS.smallVsSshStretch.toFixed(1)}×`, (v) => v >= GOALS.smallVsSshStretch);
  info('small GETs vs direct', ratio(p?.small?.rps, d?.small?.rps), times, '(reference)');
  add('added p99 at 50 connections (Postern − direct)', p?.small && d?.small ? p.small.p99 - d.small.p99 : undefined, (v) => `${v.toFixed(2)} ms`, `≤ ${GOALS.addedP99Ms} ms`, (v) => v <= GOALS.addedP99Ms);
  add('signed-in socket vs open socket, small GETs', ratio(by('postern-signed-in')?.small?.rps, p?.small?.rps), times, `≥ ${GOALS.signedInVsOpen.toFixed(1)}×`, (v) => v >= GOALS.signedInVsOpen);
  // What the request inspector costs when on (connect --inspect; off, it installs no hook at all).
  const inspect = by('postern-inspect');
  const connectorOn = cpuUsOf(inspect, ['connector']);
  const connectorOff = cpuUsOf(p, ['connector']);
  info('connector CPU per small request with --inspect', connectorOn, us, connectorOff === undefined ? '(reference)' : `(reference: ${us(connectorOff)} without)`);
  info('small GETs with --inspect vs without', ratio(inspect?.small?.rps, p?.small?.rps), times, '(reference)');
  add('download vs ssh -R (100 MiB, one stream)', ratio(p?.download?.mibps, s?.download?.mibps), times, `≥ ${GOALS.downloadVsSsh.toFixed(1)}×`, (v) => v >= GOALS.downloadVsSsh);
  add('upload vs ssh -R (100 MiB, one stream)', ratio(p?.upload?.mibps, s?.upload?.mibps), times, `≥ ${GOALS.uploadVsSsh.toFixed(1)}×`, (v) => v >= GOALS.uploadVsSsh);
  out.push(...fairnessVerdicts(p, input.settings.fairness.bulkRate));
  const ws = input.websockets;
  add('RSS per idle WebSocket (edge + connector)', ws?.totalPerStream, (v) => `${(v / 1024).toFixed(1)} KiB`, `≤ ${GOALS.wsBytesPerStream / 1024} KiB`, (v) => v <= GOALS.wsBytesPerStream);
  const stall = input.stall;
  out.push(
    stall
      ? {
          target: 'edge RSS under a stalled 1 GiB upload',
          value: `peak +${mib(stall.edgeGrowthPeak)} MiB (pushed ${fmt(stall.clientSentMiB, 0)} MiB)`,
          goal: `bounded (≤ ${GOALS.stallGrowthBytes / 1024 / 1024} MiB, flat)`,
          met: stall.bounded,
        }
      : { target: 'edge RSS under a stalled 1 GiB upload', value: NOT_MEASURED, goal: 'bounded', met: null },
  );
  out.push(...faultVerdicts(input));
  return out;
}

/** A fairness ratio only means something if the bulk download really ran beside the small requests. */
function fairnessVerdicts(p: TargetResult | undefined, bulkRate: number): Verdict[] {
  const kept = { target: 'small GETs during a 100 MB/s download, share of idle rate', goal: `≥ ${GOALS.fairnessKept * 100}%` };
  const p99 = { target: 'small GET p99 during a 100 MB/s download', goal: `≤ ${GOALS.fairnessP99Ms} ms` };
  const f = p?.fairness;
  if (!f) return [{ ...kept, value: NOT_MEASURED, met: null }, { ...p99, value: NOT_MEASURED, met: null }];
  if (f.bulkMBps < (0.5 * bulkRate) / 1e6) {
    const value = `bulk download ran at ${fmt(f.bulkMBps, 0)} MB/s, not ${bulkRate / 1e6}`;
    return [{ ...kept, value, met: false }, { ...p99, value, met: false }];
  }
  return [
    { ...kept, value: `${(f.ratio * 100).toFixed(0)}%`, met: f.ratio >= GOALS.fairnessKept },
    { ...p99, value: `${f.loaded.p99.toFixed(2)} ms`, met: f.loaded.p99 <= GOALS.fairnessP99Ms },
  ];
}

function faultVerdicts({ reconnect, connectorRestart: restart, soak }: VerdictInput): Verdict[] {
  const out: Verdict[] = [];
  const serving = reconnect?.serving;
  out.push({
    target: 'edge restart: socket serving again after the new edge listens',
    value: serving ? `median ${fmt(serving.median / 1000, 2)} s (${fmt(serving.min / 1000, 2)}–${fmt(serving.max / 1000, 2)} s, ${reconnect.restarts.length} restarts)` : NOT_MEASURED,
    goal: '≤ 2 s, every restart',
    met: serving ? serving.max <= 2000 && reconnect.failures.length === 0 : null,
  });
  out.push({
    target: 'edge restart: all 4 tunnel connections back',
    value: reconnect?.allUp ? `median ${fmt(reconnect.allUp.median / 1000, 2)} s (${fmt(reconnect.allUp.min / 1000, 2)}–${fmt(reconnect.allUp.max / 1000, 2)} s)` : NOT_MEASURED,
    goal: '(2 connectors × 2)',
    met: null,
    info: true,
  });
  const failedText = (r: RestartLoadResult | undefined): string =>
    r ? `${r.failed}/${r.total} failed (${fmt((100 * r.failed) / Math.max(1, r.total), 2)}%)` : NOT_MEASURED;
  const drain = restart?.find((r) => r.signal === 'SIGTERM');
  const kill = restart?.find((r) => r.signal === 'SIGKILL');
  out.push({ target: 'small GETs during a connector SIGTERM drain (2 connectors)', value: failedText(drain), goal: '0 failed', met: drain ? drain.failed === 0 : null });
  out.push({ target: 'small GETs during a connector kill -9 (2 connectors)', value: failedText(kill), goal: '(reference: in-flight ones are lost)', met: null, info: true });
  out.push({
    target: 'small GET p99 during the soak vs idle',
    value: soak ? `${fmt(soak.idle.p99, 1)} → ${fmt(soak.during.p99, 1)} ms (${fmt(soak.during.p99 / soak.idle.p99, 1)}×)` : NOT_MEASURED,
    goal: `(${soak?.settings.smallGets.rate ?? '—'} req/s beside the soak traffic)`,
    met: null,
    info: true,
  });
  const checks = soak ? Object.values(soak.kinds).reduce((n, k) => n + k.ok, 0) : 0;
  out.push({
    target: 'soak: corrupted or silently truncated',
    value: soak ? `${soak.integrityFailures} (of ${checks} verified, ${soak.cleanErrors} clean errors)` : NOT_MEASURED,
    goal: '0',
    met: soak ? soak.passed : null,
  });
  return out;
}

export const verdictText = (v: Verdict): string => (v.info ? 'info' : v.met === null ? 'n/a' : v.met ? 'met' : 'NOT met');
