import type { AccessChange, PolicyDiff, PolicyTestBody, PolicyTestResult } from '@postern/edge';
import { readPolicyFile } from '@postern/shared/policy';
import type { Command } from 'commander';
import { apiClient, clientOptions } from '../client-command.js';
import type { ClientOptions } from '../credentials.js';
import { CliError } from '../errors.js';
import { out } from '../output.js';
import { printable } from '../request-line.js';
import { findSocket } from '../socket-ref.js';
import { sinceToIso } from './audit.js';

interface TestOptions extends ClientOptions, Pick<PolicyTestBody, 'email' | 'path' | 'method' | 'ip' | 'at' | 'groups'> {
  socket: string;
  githubOrgs?: string[];
  githubTeams?: string[];
  json?: boolean;
}

interface DiffOptions extends ClientOptions {
  socket: string;
  file: string;
  since: string;
  at?: string;
  json?: boolean;
}

const list = (value: string, previous: string[] = []): string[] => [...previous, ...value.split(',').map((v) => v.trim()).filter(Boolean)];

/** `--at 2027-02-01T09:00:00+01:00` (or `now`) as the RFC 3339 time the API takes. */
function atToIso(value: string | undefined): string | undefined {
  if (value === undefined || value === 'now') return undefined;
  const ms = Date.parse(value);
  if (Number.isNaN(ms)) throw new CliError(`--at must be a time such as 2027-02-01T09:00:00Z, not "${value}"`);
  return new Date(ms).toISOString();
}

function printTest(result: PolicyTestResult, who: string): void {
  const verdict = result.allow ? out.good('allowed') : out.bad('denied');
  out.line(`${verdict}: ${printable(result.reason)}`);
  out.info(`decided by ${result.rule === null ? 'the default' : `rules[${result.rule}]`}, for ${who}`);
}

const when = (iso: string): string => iso.replace('T', ' ').replace(/\.\d+Z$/, 'Z');

function printChanges(title: string, changes: readonly AccessChange[]): void {
  out.line(`${title} (${changes.length}):${changes.length === 0 ? ' none' : ''}`);
  for (const c of changes) {
    const where = c.path === null ? '(tcp)' : `${c.method ?? ''} ${c.path}`.trim();
    out.line(`  ${printable(c.actor ?? 'anyone (not signed in)')}  ${printable(where)}  ${c.accesses}×, last ${when(c.last_at)}`);
    out.info(`      now: ${printable(c.before.reason)}`);
    out.info(`      new: ${printable(c.after.reason)}`);
  }
}

function printDiff(diff: PolicyDiff, socketName: string): void {
  out.line(`Replayed ${diff.replayed} audited access${diff.replayed === 1 ? '' : 'es'} to ${socketName} by ${diff.people} ${diff.people === 1 ? 'person' : 'people'} since ${when(diff.since)}:`);
  if (diff.truncated) out.warn('the period has more accesses than one replay reads; narrow it with --since');
  printChanges('would lose access', diff.lose);
  printChanges('would gain access', diff.gain);
  out.line(`open streams the new policy would close (${diff.streams_cut.length}):${diff.streams_cut.length === 0 ? ' none' : ''}`);
  for (const s of diff.streams_cut) {
    out.line(`  ${s.kind}  ${printable(s.actor ?? 'anyone (not signed in)')}  ${printable(s.path ?? '')}  opened ${when(s.opened_at)}`);
    out.info(`      new: ${printable(s.reason)}`);
  }
  out.info(`${diff.unchanged} access${diff.unchanged === 1 ? '' : 'es'} unchanged. Nothing was changed: apply the file with postern apply -f.`);
}

export function registerPolicy(program: Command): void {
  const policy = program.command('policy').description("explain a socket's policy and try a new one against real accesses before applying it");

  clientOptions(
    policy
      .command('test')
      .description('the decision for one request, the rule that made it and why (the words of the 403 page and the audit log)')
      .requiredOption('--socket <socket>', 'socket id, name or host name')
      .option('--email <email>', 'who asks (leave out: someone not signed in)')
      .option('--path <path>', 'request path', '/')
      .option('--method <method>', 'request method', 'GET')
      .option('--ip <address>', 'client address, for ip_cidrs rules')
      .option('--at <time>', 'decide at this time (RFC 3339; default now), for time windows and expiry')
      .option('--groups <list>', "the IdP's groups claim (default: from the person's last sign-in here)", list)
      .option('--github-orgs <list>', 'GitHub organisations (default: from the last sign-in)', list)
      .option('--github-teams <list>', 'GitHub teams as org/team (default: from the last sign-in)', list),
  ).action(async (opts: TestOptions) => {
    const api = apiClient(opts);
    const socket = await findSocket(api, opts.socket);
    const at = atToIso(opts.at);
    const result = await api.testPolicy(socket.id, {
      ...(opts.email !== undefined ? { email: opts.email } : {}),
      ...(socket.protocol === 'http' ? { path: opts.path ?? '/', method: opts.method ?? 'GET' } : {}),
      ...(opts.ip !== undefined ? { ip: opts.ip } : {}),
      ...(at !== undefined ? { at } : {}),
      ...(opts.groups ? { groups: opts.groups } : {}),
      ...(opts.githubOrgs ? { github_orgs: opts.githubOrgs } : {}),
      ...(opts.githubTeams ? { github_teams: opts.githubTeams } : {}),
    });
    if (opts.json) return out.json(result);
    const who = result.identity.email === null ? 'someone not signed in' : `${result.identity.email} (groups and orgs: ${result.identity.from})`;
    printTest(result, who);
  });

  clientOptions(
    policy
      .command('diff')
      .description("replay the socket's audited accesses through the policy in a file: who would gain or lose access, which open streams would close")
      .requiredOption('--socket <socket>', 'socket id, name or host name')
      .requiredOption('-f, --file <file>', 'postern.yaml (the entry named like the socket), or a file with rules:/default: alone')
      .option('--since <when>', 'replay accesses from this long ago (e.g. 7d, 12h) or an ISO time', '7d')
      .option('--at <time>', 'decide every access at this time instead of its own (e.g. the day after an expiry)'),
  ).action(async (opts: DiffOptions) => {
    const api = apiClient(opts);
    const socket = await findSocket(api, opts.socket);
    const next = readPolicyFile(opts.file, socket.protocol, socket.name);
    const at = atToIso(opts.at);
    const diff = await api.diffPolicy(socket.id, {
      policy: { rules: next.rules, default: next.default },
      since: sinceToIso(opts.since),
      ...(at !== undefined ? { at } : {}),
    });
    if (opts.json) return out.json(diff);
    printDiff(diff, socket.name);
  });
}
