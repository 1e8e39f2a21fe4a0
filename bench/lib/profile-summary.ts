/** The shape of bench/results/profile-<label>.json, written by bench/profile.ts and rendered by bench/docs.ts. */
import type { ProfileBreakdown } from './cpu-profile.js';

export interface SyscallsPerRequest {
  readonly total: number;
  /** Per request, by name, largest first (names under 0.005 per request left out). */
  readonly byName: Readonly<Record<string, number>>;
}

export interface ProfileSummary {
  readonly label: string;
  readonly measuredAt: string;
  readonly durationSeconds: number;
  readonly source: { readonly commit: string | undefined; readonly dirty: readonly string[] };
  readonly machine: { readonly cpus: number; readonly cpuModel: string | undefined; readonly kernel: string; readonly node: string; readonly busyBeforeRun: number };
  readonly settings: { readonly connections: number; readonly seconds: number; readonly warmSeconds: number; readonly loadGenerator: string };
  /** The plain (unprofiled) edge's run. */
  readonly rps: number;
  readonly p99: number;
  /** CPU µs per request by process, plain edge. */
  readonly cpuUs: Readonly<Record<string, number>>;
  readonly syscalls?: { readonly edge: SyscallsPerRequest; readonly connector: SyscallsPerRequest };
  /** The profiled edge's run (slower by the profiler's overhead). */
  readonly profiledRps: number;
  /** CPU other processes used during each run (% of one core): above ~15 the figures are disturbed. */
  readonly foreignCpu: { readonly plain: number; readonly profiled: number };
  readonly profile: ProfileBreakdown & { readonly intervalUs: number };
  readonly notes: readonly string[];
}
