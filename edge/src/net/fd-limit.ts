import { readFileSync } from 'node:fs';

/** File descriptors the edge keeps for itself: SQLite, logs, the metrics listener, DNS, outgoing connections. */
const RESERVED_FDS = 256;
/** Without a readable limit (not Linux): Node's own default, no cap. */
const UNKNOWN_LIMIT_CONNECTIONS = 65_536;

/** The soft RLIMIT_NOFILE of this process, from /proc (Linux); undefined where it cannot be read. */
export function openFileLimit(limits = '/proc/self/limits'): number | undefined {
  try {
    const line = readFileSync(limits, 'utf8').split('\n').find((l) => l.startsWith('Max open files'));
    const soft = line?.split(/\s{2,}/)[1];
    return soft && /^\d+$/.test(soft) ? Number(soft) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The default `--max-connections`: the file limit less a reserve (a tenth of it, at least 256 fds),
 * so a flood of connections is refused by the listener instead of the process running out of
 * descriptors, which would break everything at once (SQLite, /healthz on the metrics listener).
 */
export function maxConnectionsFor(limit: number | undefined): number {
  if (limit === undefined) return UNKNOWN_LIMIT_CONNECTIONS;
  return Math.max(64, limit - Math.max(RESERVED_FDS, Math.ceil(limit / 10)));
}

export const defaultMaxConnections = (): number => maxConnectionsFor(openFileLimit());
