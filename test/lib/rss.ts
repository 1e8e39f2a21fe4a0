import { readFileSync } from 'node:fs';

/** Resident set size of a process in bytes (VmRSS from /proc/<pid>/status). */
export function rssBytes(pid: number): number {
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for process ${pid}`);
  return Number(match[1]) * 1024;
}

export interface RssFigures {
  /** RSS when sampling started. */
  readonly base: number;
  /** Highest RSS seen while sampling. */
  readonly peak: number;
  /** peak − base. */
  readonly growth: number;
}

/**
 * Samples the RSS of some processes every `intervalMs` until stopped, keeping the first and the
 * highest value of each. Polling misses nothing that lasts: a buffer that grows stays resident.
 */
export class RssSampler<Name extends string> {
  private readonly base = new Map<Name, number>();
  private readonly peak = new Map<Name, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly pids: Readonly<Record<Name, number>>,
    intervalMs = 50,
  ) {
    for (const [name, pid] of this.entries()) {
      const rss = rssBytes(pid);
      this.base.set(name, rss);
      this.peak.set(name, rss);
    }
    this.timer = setInterval(() => this.sample(), intervalMs);
  }

  /** Takes a last sample and returns the figures per process. */
  stop(): Record<Name, RssFigures> {
    clearInterval(this.timer);
    this.sample();
    const figures = {} as Record<Name, RssFigures>;
    for (const [name] of this.entries()) {
      const base = this.base.get(name)!;
      const peak = this.peak.get(name)!;
      figures[name] = { base, peak, growth: peak - base };
    }
    return figures;
  }

  private entries(): [Name, number][] {
    return Object.entries(this.pids) as [Name, number][];
  }

  private sample(): void {
    for (const [name, pid] of this.entries()) {
      try {
        this.peak.set(name, Math.max(this.peak.get(name)!, rssBytes(pid)));
      } catch {
        // the process exited: its last sample stands
      }
    }
  }
}

/** Bytes as MiB with one decimal, for messages and logs. */
export const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
