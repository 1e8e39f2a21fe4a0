/**
 * The shape of bench/results/latest.json: written by `npm run bench`, read back by the verdicts,
 * the console report and the docs generator (bench/docs.ts).
 */
import type { LoadResult } from './load.js';
import type { ReconnectResult, RestartLoadResult } from './restarts.js';
import type { SoakResult } from './soak.js';

export type TargetKey = 'direct' | 'postern' | 'postern-signed-in' | 'postern-inspect' | 'postern-relayed' | 'node-floor' | 'nginx' | 'ssh';

export interface SmallResult extends LoadResult {
  /** CPU seconds each process tree on the path used during the run (origin included). */
  readonly cpuSeconds: Readonly<Record<string, number>>;
  /** The same per answered request, in microseconds. */
  readonly cpuUs: Readonly<Record<string, number>>;
}

export interface TransferResult {
  /** Median of the runs. */
  readonly mibps: number;
  readonly runs: readonly number[];
  readonly bytesOk: boolean;
}

export interface FairnessResult {
  readonly idle: LoadResult;
  readonly loaded: LoadResult;
  readonly ratio: number;
  /** Rate the bulk download actually ran at during the loaded measurement. */
  readonly bulkMBps: number;
  readonly bulkNote?: string;
}

export interface TargetResult {
  key: TargetKey;
  label: string;
  /** CPU used by processes outside the bench during each measurement (% of one core). */
  foreignCpu: Record<string, number>;
  small?: SmallResult;
  download?: TransferResult;
  upload?: TransferResult;
  fairness?: FairnessResult;
  errors: string[];
}

export interface WsResult {
  readonly requested: number;
  readonly opened: number;
  readonly failed: number;
  readonly firstError: string | undefined;
  readonly stillOpen: number;
  readonly originSaw: number;
  readonly openSeconds: number;
  readonly edgeBefore: number;
  readonly edgeAfter: number;
  readonly connectorBefore: number;
  readonly connectorAfter: number;
  readonly edgePerStream: number;
  readonly connectorPerStream: number;
  readonly totalPerStream: number;
  readonly note?: string;
}

export interface StallResult {
  readonly seconds: number;
  readonly clientSentMiB: number;
  readonly appReceivedMiB: number;
  readonly edgeBaseline: number;
  readonly edgePeak: number;
  readonly edgeGrowthPeak: number;
  readonly edgeGrowthFirstHalf: number;
  readonly edgeGrowthSecondHalf: number;
  readonly connectorGrowthPeak: number;
  readonly bounded: boolean;
  readonly samples: ReadonlyArray<readonly [number, number, number]>;
}

export interface Verdict {
  readonly target: string;
  readonly value: string;
  readonly goal: string;
  /** null: not measured, or (with `info`) a reference figure rather than a target. */
  readonly met: boolean | null;
  readonly info?: boolean;
}

export interface BenchSettings {
  readonly small: { readonly connections: number; readonly warmSeconds: number; readonly seconds: number };
  readonly transfer: { readonly bytes: number; readonly runs: number; readonly warmups: number };
  readonly fairness: { readonly seconds: number; readonly rampMs: number; readonly bulkRate: number; readonly readerAheadMs: number };
  readonly websockets: { readonly count: number; readonly concurrency: number };
  readonly stall: { readonly bytes: number; readonly appRate: number; readonly seconds: number };
  readonly soakSeconds?: number;
  readonly connectorConnections: number;
  readonly loadGenerator: string;
  readonly [other: string]: unknown;
}

export interface BenchResults {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly durationSeconds: number;
  readonly machine: {
    readonly cpus: number;
    readonly cpuModel?: string;
    readonly memoryGiB: number;
    readonly kernel: string;
    readonly node: string;
    readonly nginx?: string;
    readonly ssh?: string;
    readonly wrk?: string;
    readonly busyBeforeRun: number;
  };
  readonly source: { readonly commit: string | undefined; readonly dirty: readonly string[] };
  readonly settings: BenchSettings;
  readonly results: readonly TargetResult[];
  readonly websockets?: WsResult;
  readonly stall?: StallResult;
  readonly reconnect?: ReconnectResult;
  readonly connectorRestart?: readonly RestartLoadResult[];
  readonly soak?: SoakResult;
  readonly targets: readonly Verdict[];
  readonly notes: readonly string[];
}
