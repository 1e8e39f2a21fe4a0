import type { Command } from 'commander';
import type { SocketInfo } from '../api-client.js';
import { apiClient, clientOptions } from '../client-command.js';
import type { ClientOptions } from '../credentials.js';
import { CliError } from '../errors.js';
import { addLimitOptions, describeBodyLimit, limitsBody, type LimitOptions } from '../limit-options.js';
import { out } from '../output.js';
import { requireOption } from '../required-option.js';
import { addRuleOptions, describeRules, rulesBody, type RuleOptions } from '../rule-options.js';
import { table } from '../table.js';

type Opts = ClientOptions & RuleOptions & LimitOptions & { json?: boolean };

/** A quick share is removed when its connector stops: offline, its connector is gone, not resting. */
function status(s: SocketInfo, now = Date.now()): string {
  if (s.online) return out.good('online');
  if (!s.ephemeral) return out.dim('offline');
  const removal = s.removal_at ? Date.parse(s.removal_at) : undefined;
  const when = removal === undefined ? '' : removal - now < 60_000 ? ', removed within a minute' : `, removed in ${Math.ceil((removal - now) / 60_000)} min`;
  return out.caution(`connector gone${when}`);
}

function showSocket(socket: SocketInfo): void {
  out.line(`${out.highlight(socket.name)}  ${socket.url}`);
  out.line(table(
    ['', ''],
    [
      ['id', socket.id],
      ['protocol', socket.protocol],
      ['status', `${status(socket)}${socket.connections > 0 ? ` (${socket.connections} connection${socket.connections === 1 ? '' : 's'})` : ''}`],
      ...socket.access.map((line, i) => [i === 0 ? 'access' : '', line]),
      ['headers', `${socket.identity_headers.email}, ${socket.identity_headers.user}, X-Postern-Assertion`],
      ['max body', describeBodyLimit(socket)],
      ['created', socket.created_at + (socket.ephemeral ? ' (quick share)' : '')],
    ],
  ).split('\n').slice(1).join('\n'));
}

export function registerSocket(program: Command): void {
  const socket = program.command('socket').description('permanent sockets: a stable public name and who may reach it');

  const create = requireOption(
    socket.command('create').description('create a socket; its hostname <name>-<account> stays the same for good'),
    '--name <name>',
    'name of the socket (also the start of its hostname)',
    '--name grafana',
  ).option('--protocol <protocol>', 'http, or tcp for raw TCP (ssh, databases; reached with postern tcp)', 'http');
  clientOptions(addLimitOptions(addRuleOptions(create))).action(async (opts: Opts & { name: string; protocol: string }) => {
    if (opts.protocol !== 'http' && opts.protocol !== 'tcp') throw new CliError(`--protocol must be http or tcp, not "${opts.protocol}"`);
    const created = await apiClient(opts).createSocket({ name: opts.name, protocol: opts.protocol, ...rulesBody(opts, opts.protocol), ...limitsBody(opts) });
    if (opts.json) return out.json(created);
    out.success(`socket ${created.id} created: ${out.highlight(created.url)}`);
    if (!created.cloudauth) out.warn('this socket is public: anyone who knows the URL can reach it (add --cloudauth or allowed-* rules)');
    out.info(`serve it with: postern tunnel create --socket ${created.id}, then postern connect --socket ${created.id} --tunnel <id> --port <port>`);
  });

  clientOptions(socket.command('ls').description('list your sockets with their status')).action(async (opts: Opts) => {
    const sockets = await apiClient(opts).listSockets();
    if (opts.json) return out.json(sockets);
    if (sockets.length === 0) return out.info('no sockets yet: postern socket create --name grafana --cloudauth');
    out.line(table(['ID', 'NAME', 'PROTOCOL', 'STATUS', 'URL', 'ACCESS'], sockets.map((s) => [s.id, s.name, s.protocol, status(s), s.url, describeRules(s)])));
  });

  clientOptions(socket.command('show <id>').description('show one socket')).action(async (id: string, opts: Opts) => {
    const found = await apiClient(opts).getSocket(id);
    if (opts.json) return out.json(found);
    showSocket(found);
  });

  const update = socket
    .command('update <id>')
    .description("change a socket's name, access rules or body limit (lists replace the old ones; the hostname never changes)")
    .option('--name <name>', 'new display name')
    .option('--no-cloudauth', 'make the socket public (only without allowed-* rules)');
  clientOptions(addLimitOptions(addRuleOptions(update))).action(async (id: string, opts: Opts & { name?: string; cloudauth?: boolean }, command: Command) => {
    // --no-cloudauth gives cloudauth a default of true: only a flag actually typed may change it.
    const { cloudauth, ...rest } = opts;
    const typed = command.getOptionValueSource('cloudauth') === 'cli' ? { cloudauth } : {};
    const api = apiClient(opts);
    // A policy file is checked against the socket's own protocol (TCP sockets have no paths).
    const protocol = opts.policyFile ? (await api.getSocket(id)).protocol : 'http';
    const patch = { ...rulesBody(rest, protocol), ...limitsBody(rest), ...typed, ...(opts.name ? { name: opts.name } : {}) };
    if (Object.keys(patch).length === 0) throw new CliError('nothing to change: give --name, --cloudauth/--no-cloudauth, an --allowed-* rule, --policy-file or --max-body-size');
    if (typed.cloudauth !== undefined && opts.policyFile) throw new CliError('--policy-file gives the whole policy: put cloudauth in the file instead');
    const updated = await api.updateSocket(id, patch);
    if (opts.json) return out.json(updated);
    out.success(`socket ${updated.id} updated; access: ${describeRules(updated)}`);
  });

  clientOptions(socket.command('delete <id>').description('delete a socket, its tunnels and every connection to it')).action(async (id: string, opts: Opts) => {
    await apiClient(opts).deleteSocket(id);
    if (opts.json) return out.json({ id, deleted: true });
    out.success(`socket ${id} deleted`);
  });
}
