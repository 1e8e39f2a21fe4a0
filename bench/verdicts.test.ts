/**
 * The verdicts must catch a miss: each target is fed a run that meets it and one that misses it by
 * a little, and must say "met" and "NOT met"; a figure that was not measured must say "n/a", never
 * "met". Made-up runs, so the thresholds are tested exactly, not on whatever the machine gave.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LoadResult } from './lib/load.js';
import type { SmallResult, TargetKey, TargetResult } from './lib/results.js';
import { GOALS, verdicts, verdictText, type VerdictInput } from './lib/verdicts.js';

const load = (rps: number, p99: number): LoadResult => ({
  rps,
  p50: p99 / 3,
  p90: p99 / 2,
  p99,
  max: p99 * 2,
  ok: rps * 10,
  non2xx: 0,
  errors: 0,
  timeouts: 0,
  seconds: 10,
  generator: 'wrk',
  generatorCpuSeconds: 1,
});

const small = (rps: number, p99: number, cpuUs: Record<string, number>): SmallResult => ({ ...load(rps, p99), cpuSeconds: {}, cpuUs });

const target = (key: TargetKey, fields: Partial<TargetResult>): TargetResult => ({ key, label: key, foreignCpu: {}, errors: [], ...fields });

const SETTINGS = {
  small: { connections: 50, warmSeconds: 3, seconds: 10 },
  transfer: { bytes: 1, runs: 1, warmups: 0 },
  fairness: { seconds: 8, rampMs: 1500, bulkRate: 100e6, readerAheadMs: 1 },
  websockets: { count: 10, concurrency: 1 },
  stall: { bytes: 1, appRate: 1, seconds: 1 },
  connectorConnections: 1,
  loadGenerator: 'wrk',
};

/** A run where Postern meets every issue-9 target; `tweak` moves one figure. */
function run(tweak: { edgeUs?: number; connectorUs?: number; posternRps?: number; posternP99?: number; signedInRps?: number; download?: number; upload?: number; kept?: number; bulkP99?: number; bulkMBps?: number; wsBytes?: number } = {}): VerdictInput {
  const posternRps = tweak.posternRps ?? 30_000;
  const transfer = (mibps: number) => ({ mibps, runs: [mibps], bytesOk: true });
  return {
    settings: SETTINGS,
    results: [
      target('direct', { small: small(80_000, 3, { origin: 12 }) }),
      target('postern', {
        small: small(posternRps, tweak.posternP99 ?? 7.5, { origin: 12, edge: tweak.edgeUs ?? 20, connector: tweak.connectorUs ?? 25 }),
        download: transfer(tweak.download ?? 400),
        upload: transfer(tweak.upload ?? 480),
        fairness: {
          idle: load(20_000, 8),
          loaded: load(20_000 * (tweak.kept ?? 0.85), tweak.bulkP99 ?? 15),
          ratio: tweak.kept ?? 0.85,
          bulkMBps: tweak.bulkMBps ?? 100,
        },
      }),
      target('postern-signed-in', { small: small(tweak.signedInRps ?? posternRps * 0.95, 8, { origin: 12, edge: 22, connector: 25 }) }),
      target('ssh', { small: small(30_000, 45, { origin: 12, ssh: 11, sshd: 12 }), download: transfer(400), upload: transfer(400) }),
    ],
    websockets: {
      requested: 10,
      opened: 10,
      failed: 0,
      firstError: undefined,
      stillOpen: 10,
      originSaw: 10,
      openSeconds: 1,
      edgeBefore: 0,
      edgeAfter: 0,
      connectorBefore: 0,
      connectorAfter: 0,
      edgePerStream: 0,
      connectorPerStream: 0,
      totalPerStream: tweak.wsBytes ?? 16 * 1024,
    },
  };
}

const verdictOf = (input: VerdictInput, name: string): string => {
  const v = verdicts(input).find((x) => x.target === name);
  assert.ok(v, `no verdict named ${name}`);
  return verdictText(v);
};

describe('bench verdicts (issue 9 targets)', () => {
  it('a run that meets every target is judged met on each', () => {
    const judged = verdicts(run()).filter((v) => !v.info && v.met !== null);
    assert.ok(judged.length >= 11, `only ${judged.length} verdicts were judged`);
    for (const v of judged) assert.equal(v.met, true, `${v.target}: ${v.value} against ${v.goal}`);
  });

  const cases: Array<[string, Parameters<typeof run>[0], Parameters<typeof run>[0]]> = [
    ['edge CPU per small request', { edgeUs: GOALS.edgeUs }, { edgeUs: GOALS.edgeUs + 0.1 }],
    ['edge + connector CPU per small request', { edgeUs: 20, connectorUs: 30 }, { edgeUs: 20, connectorUs: 30.1 }],
    ['small GETs vs ssh -R', { posternRps: 18_000 }, { posternRps: 17_990 }],
    ['small GETs vs ssh -R, stretch', { posternRps: 30_000 }, { posternRps: 29_990 }],
    ['added p99 at 50 connections (Postern − direct)', { posternP99: 8 }, { posternP99: 8.01 }],
    ['signed-in socket vs open socket, small GETs', { signedInRps: 27_000 }, { signedInRps: 26_990 }],
    ['download vs ssh -R (100 MiB, one stream)', { download: 400 }, { download: 399 }],
    ['upload vs ssh -R (100 MiB, one stream)', { upload: 480 }, { upload: 479 }],
    ['small GETs during a 100 MB/s download, share of idle rate', { kept: 0.8 }, { kept: 0.79 }],
    ['small GET p99 during a 100 MB/s download', { bulkP99: 20 }, { bulkP99: 20.01 }],
    ['RSS per idle WebSocket (edge + connector)', { wsBytes: 24 * 1024 }, { wsBytes: 24 * 1024 + 1 }],
  ];
  for (const [name, atGoal, missed] of cases) {
    it(`${name}: met at the goal, NOT met just past it`, () => {
      assert.equal(verdictOf(run(atGoal), name), 'met');
      assert.equal(verdictOf(run(missed), name), 'NOT met');
    });
  }

  it('a fairness ratio without the bulk download really running is a miss, whatever the ratio', () => {
    const input = run({ kept: 1, bulkMBps: 20 });
    assert.equal(verdictOf(input, 'small GETs during a 100 MB/s download, share of idle rate'), 'NOT met');
    assert.equal(verdictOf(input, 'small GET p99 during a 100 MB/s download'), 'NOT met');
  });

  it('what was not measured is n/a, never met', () => {
    const input: VerdictInput = { settings: SETTINGS, results: [target('postern', {})] };
    for (const v of verdicts(input)) {
      assert.notEqual(v.met, true, `${v.target} was judged met without a figure`);
      assert.equal(v.value, 'not measured', v.target);
    }
  });

  it('CPU verdicts need every process of the sum: a missing connector figure is not a pass', () => {
    const input = run();
    const postern = input.results.find((r) => r.key === 'postern')!;
    const partial = { ...input, results: input.results.map((r) => (r === postern ? { ...r, small: { ...r.small!, cpuUs: { edge: 10 } } } : r)) };
    assert.equal(verdictOf(partial, 'edge + connector CPU per small request'), 'n/a');
  });
});
