/**
 * The soak: mixed traffic through one edge and two connectors serving one socket, every answer
 * checked exactly (bench/lib/checked.ts), while connector B is restarted (SIGTERM drain, then
 * started again) a few times. Used by `npm run soak` (bench/soak.ts) and the bench's `soak` phase.
 */
import { patternSha256 } from '#test-lib/pattern.js';
import {
  checkedDownload,
  checkedSse,
  checkedUpload,
  echoSession,
  pacedSmallGets,
  Tally,
  type KindSummary,
  type Outcome,
} from './checked.js';
import { ForeignCpuMeter, percentile } from './load.js';
import { rssBytes, sleep } from './procs.js';
import { fmt, mdTable, median, mib, MiB } from './report.js';
import type { ConnectorRestart, Rig } from './rig.js';

export interface SoakSettings {
  readonly seconds: number;
  /** Small GETs alone, before the soak, for the latency comparison. */
  readonly idleSeconds: number;
  /** Restarts of connector B, evenly spread over the run. */
  readonly restarts: number;
  readonly graceSeconds: number;
  /** Tunnel connections per connector. */
  readonly connections: number;
  readonly smallGets: { readonly workers: number; readonly rate: number; readonly timeoutMs: number };
  /** One download loop and one upload loop, each: a transfer, then a pause of `gapMs`. */
  readonly transfers: { readonly bytes: number; readonly gapMs: number; readonly timeoutMs: number; readonly seeds: number };
  readonly websockets: { readonly sessions: number; readonly messages: number; readonly maxBytes: number; readonly pauseMs: number; readonly timeoutMs: number };
  readonly sse: { readonly streams: number; readonly events: number; readonly gapMs: number };
}

export function soakSettings(seconds: number): SoakSettings {
  return {
    seconds,
    idleSeconds: 5,
    restarts: Math.max(1, Math.round(seconds / 20)),
    graceSeconds: 5,
    connections: 2,
    smallGets: { workers: 8, rate: 200, timeoutMs: 10_000 },
    transfers: { bytes: 100 * MiB, gapMs: 3000, timeoutMs: 120_000, seeds: 4 },
    // WebSocket sessions and SSE streams outlive the 5 s grace, so a SIGTERM drain of B cuts those
    // it carries: the cut must show as a clean error, never as a short success.
    websockets: { sessions: 4, messages: 200, maxBytes: 1 * MiB, pauseMs: 20, timeoutMs: 15_000 },
    sse: { streams: 3, events: 200, gapMs: 50 },
  };
}

const KINDS = ['small GET', 'download', 'upload', 'WebSocket echo', 'SSE stream'] as const;
const IDLE_KIND = 'small GET (idle, before)';

export interface Latency {
  readonly requests: number;
  readonly ok: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

export interface RssRange {
  readonly start: number;
  readonly peak: number;
  readonly end: number;
}

export interface SoakResult {
  readonly settings: SoakSettings;
  readonly seconds: number;
  readonly idle: Latency;
  readonly during: Latency;
  readonly kinds: Record<string, KindSummary>;
  readonly integrityFailures: number;
  readonly cleanErrors: number;
  /** Kinds that never succeeded: the soak verified nothing about them. */
  readonly unverified: string[];
  readonly restarts: ReadonlyArray<ConnectorRestart & { readonly atSecond: number }>;
  readonly restartFailures: string[];
  readonly throughput: {
    readonly smallGetsPerSecond: number;
    readonly downloadMiBps: number;
    readonly uploadMiBps: number;
    readonly downloadMedianMiBps: number;
    readonly uploadMedianMiBps: number;
    readonly wsMessagesPerSecond: number;
    readonly wsMiBps: number;
    readonly sseEventsPerSecond: number;
  };
  readonly rss: Record<string, RssRange>;
  /** CPU used by processes outside the soak meanwhile (% of one core): its figures are noisy above ~15. */
  readonly foreignCpu: number;
  /** Nothing corrupted or silently truncated, every kind verified, every restart done. */
  readonly passed: boolean;
}

function latencyOf(latencies: readonly number[], requests: number): Latency {
  const sorted = Float64Array.from(latencies).sort();
  return {
    requests,
    ok: sorted.length,
    p50: percentile(sorted, 50),
    p90: percentile(sorted, 90),
    p99: percentile(sorted, 99),
    max: sorted.length ? sorted[sorted.length - 1]! : NaN,
  };
}

/** Samples VmRSS of the rig's processes (whichever incarnation is current) every `ms`. */
class RssSampler {
  private readonly ranges = new Map<string, { start: number; peak: number; end: number }>();
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly rig: Rig) {}

  sample(): void {
    for (const [role, proc] of this.rig.processes()) {
      let rss: number;
      try {
        rss = rssBytes(proc.pid);
      } catch {
        continue; // restarting: no process right now
      }
      const r = this.ranges.get(role);
      if (!r) this.ranges.set(role, { start: rss, peak: rss, end: rss });
      else {
        r.peak = Math.max(r.peak, rss);
        r.end = rss;
      }
    }
  }

  start(ms: number): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), ms);
  }

  stop(): Record<string, RssRange> {
    clearInterval(this.timer);
    this.sample();
    return Object.fromEntries(this.ranges);
  }
}

export async function runSoak(rig: Rig, settings: SoakSettings, log: (line: string) => void): Promise<SoakResult> {
  const ep = rig.endpoint;
  const tally = new Tally([IDLE_KIND, ...KINDS]);
  const { transfers, websockets, sse } = settings;

  // Expected hashes, computed before anything is measured. Downloads and uploads use disjoint seeds
  // and consecutive transfers different ones, so bytes from another transfer cannot pass the check.
  const downSeeds = Array.from({ length: transfers.seeds }, (_, i) => 101 + i);
  const upSeeds = Array.from({ length: transfers.seeds }, (_, i) => 201 + i);
  const sha = new Map<number, string>([...downSeeds, ...upSeeds].map((seed) => [seed, patternSha256(transfers.bytes, seed)]));

  log(`  idle: small GETs alone for ${settings.idleSeconds} s (${settings.smallGets.rate} req/s over ${settings.smallGets.workers} keep-alive connections)`);
  const idleUntil = performance.now() + settings.idleSeconds * 1000;
  const idleRun = await pacedSmallGets(ep, { ...settings.smallGets, idPrefix: 'idle', going: () => performance.now() < idleUntil }, (o) => tally.record(IDLE_KIND, o));
  const idle = latencyOf(idleRun.latencies, idleRun.total);
  log(`  idle: p50 ${fmt(idle.p50, 2)} ms, p99 ${fmt(idle.p99, 2)} ms (${idle.ok}/${idle.requests} ok)`);

  const rss = new RssSampler(rig);
  rss.start(500);
  const foreign = new ForeignCpuMeter();
  const t0 = performance.now();
  const deadline = t0 + settings.seconds * 1000;
  const going = (): boolean => performance.now() < deadline;
  const at = (): number => (performance.now() - t0) / 1000;
  const record = (kind: string) => (outcome: Outcome) => tally.record(kind, outcome, at());
  /** Sleeps `ms`, or less if the soak ends first. */
  const pause = (ms: number): Promise<void> => sleep(Math.max(0, Math.min(ms, deadline - performance.now())));

  const rates = { download: [] as number[], upload: [] as number[] };
  const transferLoop = async (kind: 'download' | 'upload', seeds: readonly number[]): Promise<void> => {
    for (let i = 0; going(); i++) {
      const seed = seeds[i % seeds.length]!;
      const started = performance.now();
      const check = kind === 'download' ? checkedDownload : checkedUpload;
      const outcome = await check(ep, transfers.bytes, seed, sha.get(seed)!, transfers.timeoutMs);
      record(kind)(outcome);
      if (outcome.ok) rates[kind].push(transfers.bytes / MiB / ((performance.now() - started) / 1000));
      await pause(transfers.gapMs);
    }
  };
  // Long-lived streams start staggered: started together they would also end together, and a
  // restart would find the connector between two batches with nothing long-lived to cut.
  const wsLoop = async (_: unknown, i: number): Promise<void> => {
    await pause(i * 2000);
    while (going()) {
      let failedNow = false;
      await echoSession(ep, { ...websockets, going }, (outcome) => {
        if (!outcome.ok) failedNow = true;
        record('WebSocket echo')(outcome);
      });
      if (failedNow) await pause(200); // do not hammer a path that just failed
    }
  };
  const sseLoop = async (_: unknown, i: number): Promise<void> => {
    await pause((i * sse.events * sse.gapMs) / sse.streams);
    while (going()) {
      const outcome = await checkedSse(ep, sse.events, sse.gapMs, (n) => tally.addUnits('SSE stream', n));
      record('SSE stream')(outcome);
      if (!outcome.ok) await pause(200);
    }
  };
  const restarts: Array<ConnectorRestart & { atSecond: number }> = [];
  const restartFailures: string[] = [];
  const restartLoop = async (): Promise<void> => {
    for (let k = 1; k <= settings.restarts; k++) {
      await sleep(Math.max(0, t0 + (settings.seconds * 1000 * k) / (settings.restarts + 1) - performance.now()));
      if (!going()) return;
      const atSecond = at();
      try {
        const r = await rig.restartConnector(1, 'SIGTERM');
        restarts.push({ ...r, atSecond });
        log(`  ${atSecond.toFixed(1)} s: connector B restarted (SIGTERM drain ${fmt(r.stopMs / 1000, 1)} s, ready again after ${fmt(r.readyMs / 1000, 1)} s)`);
      } catch (err) {
        restartFailures.push(`at ${atSecond.toFixed(1)} s: ${(err as Error).message.split('\n')[0]}`);
        log(`  ${atSecond.toFixed(1)} s: restarting connector B FAILED: ${(err as Error).message.split('\n')[0]}`);
        return;
      }
    }
  };
  const progress = setInterval(() => {
    const c = (kind: string): string => `${tally.count(kind, 'ok')}${tally.count(kind, 'error') ? `+${tally.count(kind, 'error')}err` : ''}`;
    log(
      `  ${at().toFixed(0).padStart(3)} s: small GETs ${c('small GET')}, downloads ${c('download')}, uploads ${c('upload')}, ` +
        `WS messages ${c('WebSocket echo')}, SSE streams ${c('SSE stream')}; integrity failures ${tally.integrityFailures()}`,
    );
  }, 10_000);

  log(`  soak: ${settings.seconds} s of mixed traffic; connector B restarted ${settings.restarts}× (SIGTERM, --grace ${settings.graceSeconds}s)`);
  let duringRun: Awaited<ReturnType<typeof pacedSmallGets>>;
  try {
    [duringRun] = await Promise.all([
      pacedSmallGets(ep, { ...settings.smallGets, idPrefix: 'soak', going }, (o, startedMs) => tally.record('small GET', o, startedMs / 1000)),
      transferLoop('download', downSeeds),
      transferLoop('upload', upSeeds),
      ...Array.from({ length: websockets.sessions }, wsLoop),
      ...Array.from({ length: sse.streams }, sseLoop),
      restartLoop(),
    ]);
  } finally {
    clearInterval(progress);
  }
  const seconds = (performance.now() - t0) / 1000;
  const foreignCpu = foreign.read();
  const rssRanges = rss.stop();

  const kinds = tally.summary();
  const during = latencyOf(duringRun.latencies, duringRun.total);
  const perSecond = (n: number): number => n / seconds;
  const integrityFailures = tally.integrityFailures();
  const unverified = KINDS.filter((k) => tally.count(k, 'ok') === 0);
  return {
    settings,
    seconds,
    idle,
    during,
    kinds,
    integrityFailures,
    cleanErrors: tally.cleanErrors(),
    unverified,
    restarts,
    restartFailures,
    throughput: {
      smallGetsPerSecond: perSecond(kinds['small GET']!.ok),
      downloadMiBps: perSecond(kinds.download!.bytes / MiB),
      uploadMiBps: perSecond(kinds.upload!.bytes / MiB),
      downloadMedianMiBps: median(rates.download),
      uploadMedianMiBps: median(rates.upload),
      wsMessagesPerSecond: perSecond(kinds['WebSocket echo']!.ok),
      wsMiBps: perSecond(kinds['WebSocket echo']!.bytes / MiB),
      sseEventsPerSecond: perSecond(kinds['SSE stream']!.units),
    },
    rss: rssRanges,
    foreignCpu,
    passed: integrityFailures === 0 && unverified.length === 0 && restartFailures.length === 0 && restarts.length === settings.restarts,
  };
}

// ------------------------------------------------------------------------------------------ report

const reasons = (counts: Record<string, number>): string =>
  Object.entries(counts)
    .sort((a, b) => b[1] - a[1])
    .map(([reason, n]) => `${n}× ${reason}`)
    .join('; ') || '—';

const total = (counts: Record<string, number>): number => Object.values(counts).reduce((a, b) => a + b, 0);

/** The human summary: a table per kind, latency, throughput, restarts and memory. */
export function soakReport(r: SoakResult): string {
  const unitName: Record<string, string> = { 'WebSocket echo': 'messages', 'SSE stream': 'streams' };
  const kindRows = Object.entries(r.kinds).map(([kind, k]) => [
    kind,
    `${k.ok}${unitName[kind] ? ` ${unitName[kind]}` : ''}${kind === 'SSE stream' ? ` (${k.units} events)` : ''}`,
    String(total(k.errors)),
    String(total(k.truncated)),
    String(total(k.corrupt)),
  ]);
  const lines = [
    mdTable(['kind', 'verified ok', 'clean errors', 'silently truncated', 'corrupted'], kindRows),
    '',
    mdTable(
      ['small GETs', 'requests', 'ok', 'p50 ms', 'p90 ms', 'p99 ms', 'max ms'],
      [
        ['idle, before the soak', String(r.idle.requests), String(r.idle.ok), fmt(r.idle.p50, 2), fmt(r.idle.p90, 2), fmt(r.idle.p99, 2), fmt(r.idle.max, 1)],
        ['during the soak', String(r.during.requests), String(r.during.ok), fmt(r.during.p50, 2), fmt(r.during.p90, 2), fmt(r.during.p99, 2), fmt(r.during.max, 1)],
      ],
    ),
    '',
    mdTable(
      ['process', 'RSS start MiB', 'peak MiB', 'end MiB'],
      Object.entries(r.rss).map(([role, x]) => [role + (role === 'connector B' ? ' (restarted: start of the first, end of the last)' : ''), mib(x.start), mib(x.peak), mib(x.end)]),
    ),
    '',
    `- throughput over ${fmt(r.seconds, 1)} s: small GETs ${fmt(r.throughput.smallGetsPerSecond, 0)} req/s; downloads ${fmt(r.throughput.downloadMiBps, 1)} MiB/s on average ` +
      `(${fmt(r.throughput.downloadMedianMiBps, 0)} MiB/s median per transfer); uploads ${fmt(r.throughput.uploadMiBps, 1)} MiB/s (${fmt(r.throughput.uploadMedianMiBps, 0)} MiB/s median); ` +
      `WebSocket echo ${fmt(r.throughput.wsMessagesPerSecond, 0)} messages/s, ${fmt(r.throughput.wsMiBps, 1)} MiB/s; SSE ${fmt(r.throughput.sseEventsPerSecond, 0)} events/s`,
    `- connector restarts performed: ${r.restarts.length} of ${r.settings.restarts} (${r.restarts.map((x) => `at ${fmt(x.atSecond, 0)} s: drain ${fmt(x.stopMs / 1000, 1)} s, ready ${fmt(x.readyMs / 1000, 1)} s`).join('; ') || 'none'})`,
    `- p99 of small GETs during the soak vs idle: ${fmt(r.during.p99 / r.idle.p99, 1)}× (${fmt(r.idle.p99, 2)} → ${fmt(r.during.p99, 2)} ms)`,
    `- other processes used ${fmt(r.foreignCpu, 0)}% of a core meanwhile${r.foreignCpu > 15 ? ' (figures disturbed)' : ''}`,
  ];
  for (const [kind, k] of Object.entries(r.kinds)) {
    if (total(k.errors)) lines.push(`- ${kind}, clean errors: ${reasons(k.errors)}`);
    if (total(k.truncated)) lines.push(`- ${kind}, SILENTLY TRUNCATED: ${reasons(k.truncated)}`);
    if (total(k.corrupt)) lines.push(`- ${kind}, CORRUPTED: ${reasons(k.corrupt)}`);
    for (const e of k.examples) lines.push(`    ${kind}: ${e}`);
  }
  for (const f of r.restartFailures) lines.push(`- restart FAILED ${f}`);
  if (r.unverified.length) lines.push(`- NOTHING VERIFIED for: ${r.unverified.join(', ')} (no successful check at all)`);
  lines.push(
    r.passed
      ? `- verdict: PASSED: 0 corrupted, 0 silently truncated (${r.cleanErrors} clean errors, visible to the client)`
      : `- verdict: FAILED: ${r.integrityFailures} corrupted or silently truncated${r.unverified.length ? `; unverified kinds: ${r.unverified.join(', ')}` : ''}${r.restartFailures.length || r.restarts.length !== r.settings.restarts ? '; not every restart was done' : ''}`,
  );
  return lines.join('\n');
}
