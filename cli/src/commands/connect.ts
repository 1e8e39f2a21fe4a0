import { randomUUID } from 'node:crypto';
import { connect as tcpConnect } from 'node:net';
import { Connector, DEFAULT_CONNECTIONS, DEFAULT_GRACE_MS, type ConnectorError } from '@postern/connector';
import type { SocketView } from '@postern/edge';
import type { Command } from 'commander';
import { ApiClient } from '../api-client.js';
import { resolveCredentials } from '../credentials.js';
import { CliError } from '../errors.js';
import { out } from '../output.js';
import { parseDuration, parseIntInRange } from '../parse.js';
import { onShutdown } from '../signals.js';

interface ConnectOptions {
  cloudauth?: boolean;
  allowedEmailDomains?: string[];
  allowedEmailAddresses?: string[];
  allowedGithubOrgs?: string[];
  allowedGithubTeams?: string[];
  allowedGroups?: string[];
  emailHeader?: string;
  userHeader?: string;
  port: string;
  host: string;
  name?: string;
  socket?: string;
  json?: boolean;
  connections: string;
  rewriteHost?: string | boolean;
  grace: string;
  edge?: string;
  tokenFile?: string;
}

/** Resolves whether something accepts TCP connections on host:port (a courtesy check, not a gate). */
function probe(host: string, port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

/** Comma-separated lists, also accepted as repeated flags. */
const list = (value: string, previous: string[] = []): string[] => [...previous, ...value.split(',').map((v) => v.trim()).filter(Boolean)];

/** mysocketctl spells these with underscores; scripts written for it keep working. */
const UNDERSCORE_ALIASES: Readonly<Record<string, string>> = {
  '--allowed_email_domains': '--allowed-email-domains',
  '--allowed_email_addresses': '--allowed-email-addresses',
  '--allowed_github_orgs': '--allowed-github-orgs',
};

/** Rewrites underscore spellings (also `--flag=value`) to the dashed ones before parsing. */
export function normalizeAliases(argv: readonly string[]): string[] {
  return argv.map((arg) => {
    const [flag, ...rest] = arg.split('=');
    const alias = flag ? UNDERSCORE_ALIASES[flag] : undefined;
    return alias ? [alias, ...rest].join('=') : arg;
  });
}

export function registerConnect(program: Command): void {
  program
    .command('connect')
    .description('publish a local port through the edge; prints the public URL')
    .requiredOption('--port <port>', 'local port of the app')
    .option('--host <host>', 'local host of the app', '127.0.0.1')
    .option('--name <name>', 'name of the socket (quick share: created now, removed on exit)')
    .option('--socket <id>', 'an existing socket to serve instead of creating one')
    .option('--cloudauth', 'require sign-in at the edge (without it the socket is public)')
    .option('--allowed-email-domains <list>', 'who may sign in: email domains, comma-separated (*.corp.com for subdomains)', list)
    .option('--allowed-email-addresses <list>', 'who may sign in: email addresses, comma-separated', list)
    .option('--allowed-github-orgs <list>', 'who may sign in: GitHub organisations', list)
    .option('--allowed-github-teams <list>', 'who may sign in: GitHub teams as org/team', list)
    .option('--allowed-groups <list>', "who may sign in: values of the IdP's groups claim", list)
    .option('--email-header <name>', 'header that carries the user email to the app', undefined)
    .option('--user-header <name>', 'header that carries the user name to the app', undefined)
    .option('--connections <n>', 'parallel tunnel connections to the edge', String(DEFAULT_CONNECTIONS))
    .option('--rewrite-host [host]', "send the app this Host header instead of the public one (default host:port of the app)")
    .option('--grace <duration>', 'on stop, how long in-flight requests may finish', `${DEFAULT_GRACE_MS / 1000}s`)
    .option('--json', 'print JSON lines (first: {"event":"ready","url":...})')
    .option('--edge <url>', 'edge URL (or POSTERN_EDGE)')
    .option('--token-file <file>', 'file holding the API token (or POSTERN_TOKEN)')
    .action(async (opts: ConnectOptions) => {
      const port = parseIntInRange(opts.port, 1, 65535, '--port');
      const connections = parseIntInRange(opts.connections, 1, 16, '--connections');
      const graceMs = parseDuration(opts.grace, '--grace');
      if (!/^[A-Za-z0-9.:[\]-]+$/.test(opts.host)) throw new CliError(`--host must be a host name or address, not "${opts.host}"`);
      const hostRewrite = opts.rewriteHost === true ? `${opts.host}:${port}` : opts.rewriteHost || undefined;
      const creds = resolveCredentials(opts);
      const api = new ApiClient(creds);

      const ephemeral = !opts.socket;
      const socket: SocketView = opts.socket
        ? await api.getSocket(opts.socket)
        : await api.createSocket({
            name: opts.name ?? `app-${port}`,
            ephemeral: true,
            ...(opts.cloudauth ? { cloudauth: true } : {}),
            allowed_email_domains: opts.allowedEmailDomains ?? [],
            allowed_email_addresses: opts.allowedEmailAddresses ?? [],
            allowed_github_orgs: opts.allowedGithubOrgs ?? [],
            allowed_github_teams: opts.allowedGithubTeams ?? [],
            allowed_groups: opts.allowedGroups ?? [],
            ...(opts.emailHeader || opts.userHeader
              ? { identity_headers: { ...(opts.emailHeader ? { email: opts.emailHeader } : {}), ...(opts.userHeader ? { user: opts.userHeader } : {}) } }
              : {}),
          });

      const connector = new Connector({
        edgeUrl: creds.edgeUrl,
        token: creds.token,
        socketId: socket.id,
        target: { host: opts.host, port },
        connections,
        hostRewrite,
        graceMs,
        connectorId: randomUUID(),
      });
      const view = new ConnectView(socket, `${opts.host}:${port}`, Boolean(opts.json));

      const removeEphemeral = async () => {
        if (ephemeral) await api.deleteSocket(socket.id).catch(() => undefined);
      };

      const fatal = new Promise<ConnectorError>((resolve) => connector.once('fatal', resolve));
      connector.on('ready', async (hello) => {
        view.ready(hello.connectionId);
        if (!(await probe(opts.host, port))) view.nothingListening();
      });
      connector.on('connection', (event) => view.connection(event));
      connector.start();

      const outcome = await Promise.race([
        fatal,
        onShutdown(async () => {
          view.stopping(graceMs);
          await connector.stop(graceMs);
        }).then(() => null),
      ]);
      await removeEphemeral();
      if (outcome) throw new CliError(outcome.message);
      view.stopped();
      process.exit(0);
    });
}

function describeRules(socket: SocketView): string {
  const rules = [
    ...socket.allowed_email_domains.map((d) => `@${d}`),
    ...socket.allowed_email_addresses,
    ...socket.allowed_github_orgs.map((o) => `GitHub org ${o}`),
    ...socket.allowed_github_teams.map((t) => `GitHub team ${t}`),
    ...socket.allowed_groups.map((g) => `group ${g}`),
  ];
  return rules.length > 0 ? rules.join(', ') : 'only you (the owner)';
}

/** What `connect` shows: JSON lines with --json, short human lines otherwise. */
class ConnectView {
  /** Nothing is printed before the ready line: scripts read the first JSON line for the URL. */
  private isReady = false;

  constructor(
    private readonly socket: SocketView,
    private readonly target: string,
    private readonly json: boolean,
  ) {}

  ready(connectionId: string): void {
    this.isReady = true;
    const { socket } = this;
    if (this.json) {
      out.json({
        event: 'ready',
        url: socket.url,
        socket_id: socket.id,
        name: socket.name,
        hostname: socket.hostname,
        target: this.target,
        connection_id: connectionId,
        public: !socket.cloudauth,
        cloudauth: socket.cloudauth,
        allowed_email_domains: socket.allowed_email_domains,
        allowed_email_addresses: socket.allowed_email_addresses,
      });
      return;
    }
    out.success(`${socket.name} is live at ${out.highlight(socket.url)} → ${this.target}`);
    if (!socket.cloudauth) out.warn('this socket is open: anyone who knows the URL can reach it (no sign-in; add --cloudauth)');
    else out.info(`sign-in required; allowed: ${describeRules(socket)}`);
    out.info('press Ctrl-C to stop');
  }

  nothingListening(): void {
    const text = `nothing is listening on ${this.target} yet: visitors get a 502 page until the app starts`;
    if (this.json) out.json({ event: 'warning', message: text });
    else out.warn(text);
  }

  connection(event: { slot: number; state: string; retryInMs?: number; reason?: string; connectionId?: string }): void {
    if (!this.isReady) return;
    if (this.json) {
      out.json({ event: 'connection', ...event });
      return;
    }
    if (event.state === 'reconnecting') {
      out.warn(`tunnel ${event.slot + 1}: ${event.reason ?? 'disconnected'}; retrying in ${((event.retryInMs ?? 0) / 1000).toFixed(1)}s`);
    } else if (event.state === 'up') {
      out.info(`tunnel ${event.slot + 1}: up (${event.connectionId ?? ''})`);
    }
  }

  stopping(graceMs: number): void {
    if (this.json) out.json({ event: 'stopping', grace_ms: graceMs });
    else out.info(`stopping: letting in-flight requests finish (up to ${graceMs / 1000}s)...`);
  }

  stopped(): void {
    if (this.json) out.json({ event: 'stopped' });
    else out.info('stopped');
  }
}
