import type { AuditView } from '@postern/edge';
import type { Command } from 'commander';
import { apiClient, clientOptions } from '../client-command.js';
import type { ClientOptions } from '../credentials.js';
import { CliError } from '../errors.js';
import { out } from '../output.js';
import { parseDuration, parseIntInRange } from '../parse.js';
import { printable } from '../request-line.js';

/** `--since 2h` (ago) or an ISO time, as the ISO time the API expects. */
export function sinceToIso(value: string, now = Date.now()): string {
  if (/^\d{4}-\d{2}-\d{2}/.test(value)) {
    const at = Date.parse(value);
    if (Number.isNaN(at)) throw new CliError(`--since must be a duration such as 2h or an ISO time, not "${value}"`);
    return new Date(at).toISOString();
  }
  return new Date(now - parseDuration(value, '--since')).toISOString();
}

/**
 * One readable line per event: time, type, who, socket, and the details that matter. Actors and
 * details come from strangers (an IdP subject, a sign-in error): control characters are replaced.
 */
function describe(event: AuditView): string {
  const detail = Object.entries(event.detail)
    .filter(([, v]) => v !== null && v !== undefined)
    .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
    .join(' ');
  const type = event.type === 'access.denied' || event.type === 'signin.failed' ? out.colorError(event.type) : event.type;
  return [event.at.replace('T', ' ').replace(/\.\d+Z$/, 'Z'), type, printable(event.actor ?? '-'), printable(event.socket_id ?? '-'), printable(detail)].join('  ');
}

export function registerAudit(program: Command): void {
  clientOptions(
    program
      .command('audit')
      .description('what happened to your sockets, tunnels and tokens: sign-ins, denials, changes, connections')
      .option('--socket <id>', 'only events of this socket')
      .option('--since <when>', 'from this long ago (e.g. 2h, 7d) or an ISO time')
      .option('--limit <n>', 'at most this many events, newest first', '100'),
  ).action(async (opts: ClientOptions & { socket?: string; since?: string; limit: string; json?: boolean }) => {
    const events = await apiClient(opts).audit({
      ...(opts.socket ? { socket: opts.socket } : {}),
      ...(opts.since ? { since: sinceToIso(opts.since) } : {}),
      limit: parseIntInRange(opts.limit, 1, 1000, '--limit'),
    });
    if (opts.json) return out.json(events);
    if (events.length === 0) return out.info('no events');
    for (const event of events) out.line(describe(event));
  });
}
