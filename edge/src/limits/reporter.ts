import type { FastifyBaseLogger } from 'fastify';
import type { EdgeError, EdgeErrorCode } from '../errors.js';

/** Every limit the edge enforces, as it appears in the `limit` field of its log line. */
export type LimitName =
  | 'header_size'
  | 'header_count'
  | 'header_timeout'
  | 'body_size'
  | 'body_idle_timeout'
  | 'streams_per_connection'
  | 'streams_per_user'
  | 'client_resets'
  | 'tunnel_message_size'
  | 'connections_per_address'
  | 'first_byte_timeout'
  | 'max_connections';

/** Codes of limit refusals: the reporter logged them already, callers add no line per request. */
const LIMIT_CODES: ReadonlySet<EdgeErrorCode> = new Set<EdgeErrorCode>([
  'REQUEST_TIMEOUT',
  'BODY_TOO_LARGE',
  'TOO_MANY_STREAMS',
  'TOO_MANY_RESETS',
  'HEADERS_TOO_LARGE',
  'TOO_MANY_HEADERS',
  'TUNNEL_BUSY',
]);

export const isLimitRefusal = (err: EdgeError): boolean => LIMIT_CODES.has(err.code);

/** One warn line per limit and key (a client, user, socket or connection) at most this often. */
const LOG_EVERY_MS = 60_000;
/** Keys remembered for the once-a-minute rule; past this, stale ones are dropped first. */
const MAX_TRACKED = 10_000;

interface Logged {
  at: number;
  /** Hits since that line that were not logged. */
  suppressed: number;
}

/**
 * The one place every limit rejection passes through (count them here for metrics). It logs the
 * first hit of a limit for a key, then at most one line a minute carrying the number of hits it
 * kept quiet about: a flood of rejected requests or bytes never turns into a flood of log lines.
 */
export class LimitReporter {
  private readonly logged = new Map<string, Logged>();

  constructor(
    private readonly log: Pick<FastifyBaseLogger, 'warn'>,
    private readonly now: () => number = Date.now,
    /** Told of every hit, logged or not (the metrics counter). */
    private readonly count: (limit: LimitName) => void = () => undefined,
  ) {}

  hit(limit: LimitName, key: string, message: string, detail: Readonly<Record<string, unknown>> = {}): void {
    this.count(limit);
    const id = `${limit}\u0000${key}`;
    const now = this.now();
    const last = this.logged.get(id);
    if (last && now - last.at < LOG_EVERY_MS) {
      last.suppressed++;
      return;
    }
    if (!last && this.logged.size >= MAX_TRACKED) this.forgetStale(now);
    this.logged.set(id, { at: now, suppressed: 0 });
    this.log.warn({ limit, ...detail, ...(last && last.suppressed > 0 ? { suppressed: last.suppressed } : {}) }, message);
  }

  private forgetStale(now: number): void {
    for (const [id, entry] of this.logged) if (now - entry.at >= LOG_EVERY_MS) this.logged.delete(id);
    if (this.logged.size >= MAX_TRACKED) this.logged.clear();
  }
}
