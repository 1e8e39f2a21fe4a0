/**
 * System calls made by a running process over an interval, counted in the kernel with
 * `perf stat` (tracepoints: no per-call work in user space, unlike strace). Needs linux-perf and
 * root or `kernel.perf_event_paranoid` ≤ 1; when it cannot run, the reason is returned instead.
 */
import { existsSync } from 'node:fs';
import { runCommand } from './procs.js';
import { which } from './targets.js';

export const PERF_HINT = 'apt-get install linux-perf, and run as root (or sysctl kernel.perf_event_paranoid=1)';

/** The calls worth naming on a proxy's request path; everything else is counted in the total. */
const NAMED = [
  'read', 'readv', 'write', 'writev', 'recvfrom', 'sendto', 'recvmsg', 'sendmsg',
  'epoll_wait', 'epoll_pwait', 'epoll_pwait2', 'epoll_ctl', 'futex', 'accept4', 'close', 'shutdown',
  'setsockopt', 'getsockopt', 'getpeername', 'getsockname', 'ioctl', 'fcntl',
  'mmap', 'munmap', 'madvise', 'mprotect', 'brk', 'getrandom', 'openat', 'statx', 'pread64', 'pwrite64',
] as const;

export interface SyscallCounts {
  readonly total: number;
  /** Calls by name; only the names with a nonzero count. */
  readonly byName: Readonly<Record<string, number>>;
  readonly seconds: number;
}

const TOTAL_EVENT = 'raw_syscalls:sys_enter';

/** Parses `perf stat -x,` output (one `value,unit,event,...` line per event). */
export function parsePerfStat(stderr: string, seconds: number): SyscallCounts {
  const byName: Record<string, number> = {};
  let total: number | undefined;
  for (const line of stderr.split('\n')) {
    const [value, , event] = line.split(',');
    if (!event || value === undefined || !/^\d+$/.test(value)) continue;
    if (event === TOTAL_EVENT) total = Number(value);
    else if (event.startsWith('syscalls:sys_enter_') && Number(value) > 0) byName[event.slice('syscalls:sys_enter_'.length)] = Number(value);
  }
  if (total === undefined) throw new Error(`perf stat printed no ${TOTAL_EVENT} count:\n${stderr.slice(0, 1000)}`);
  return { total, byName, seconds };
}

function tracepointExists(name: string): boolean {
  return ['/sys/kernel/tracing', '/sys/kernel/debug/tracing'].some((root) => existsSync(`${root}/events/syscalls/sys_enter_${name}`));
}

/** Why perf cannot count here, or undefined when it can. */
export function perfUnavailable(): string | undefined {
  if (!which('perf')) return `perf is not installed: ${PERF_HINT}`;
  if (!tracepointExists('read')) return `no syscall tracepoints readable (tracefs not mounted, or not root): ${PERF_HINT}`;
  return undefined;
}

/** Counts the system calls of `pid` (all its threads) for `seconds`. */
export async function countSyscalls(pid: number, seconds: number): Promise<SyscallCounts> {
  const events = [TOTAL_EVENT, ...NAMED.filter(tracepointExists).map((n) => `syscalls:sys_enter_${n}`)];
  // perf stat writes its counts to stderr; runCommand keeps stdout, so send them there.
  const out = await runCommand('/bin/sh', ['-c', 'exec perf stat -x, -e "$1" -p "$2" -- sleep "$3" 2>&1', 'sh', events.join(','), String(pid), String(seconds)], {
    timeoutMs: (seconds + 20) * 1000,
  });
  return parsePerfStat(out, seconds);
}
