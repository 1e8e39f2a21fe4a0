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
import { addRuleOptions, rulesBody, type RuleOptions } from '../rule-options.js';
import { onShutdown } from '../signals.js';

interface ConnectOptions extends RuleOptions {
  port: string;
  host: string;
  name?: string;
  socket?: string;
  tunnel?: string;
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

/** What a connect serves: a permanent socket (and tunnel), or a quick share made now and removed on exit. */
interface Served {
  readonly socket: SocketView;
  readonly tunnelId: string | undefined;
  /** Removes what this run created (quick share); nothing for a permanent socket. */
  readonly cleanUp: () => Promise<void>;
}

async function resolveServed(api: ApiClient, opts: ConnectOptions, port: number): Promise<Served> {
  if (opts.socket) {
    const socket = await api.getSocket(opts.socket);
    if (opts.tunnel) {
      const tunnel = await api.getTunnel(opts.tunnel);
      if (tunnel.socket_id !== socket.id) throw new CliError(`tunnel ${tunnel.id} belongs to socket ${tunnel.socket_id}, not ${socket.id}`);
    }
    return { socket, tunnelId: opts.tunnel, cleanUp: async () => undefined };
  }
  if (opts.tunnel) throw new CliError('--tunnel needs --socket (the socket that tunnel belongs to)');
  const socket = await api.createSocket({ name: opts.name ?? `app-${port}`, ephemeral: true, ...rulesBody(opts) });
  const cleanUp = async () => {
    await api.deleteSocket(socket.id).catch(() => undefined); // its tunnel goes with it
  };
  try {
    const tunnel = await api.createTunnel({ socket_id: socket.id, ephemeral: true, name: 'quick share' });
    return { socket, tunnelId: tunnel.id, cleanUp };
  } catch (err) {
    await cleanUp(); // nothing half-created stays on the edge
    throw err;
  }
}

export function registerConnect(program: Command): void {
  const command = program
    .command('connect')
    .description('publish a local port through the edge and show requests live; prints the public URL')
    .requiredOption('--port <port>', 'local port of the app')
    .option('--host <host>', 'local host of the app', '127.0.0.1')
    .option('--name <name>', 'name of the socket (quick share: created now, removed on exit)')
    .option('--socket <id>', 'serve an existing socket (postern socket create) instead of a quick share')
    .option('--tunnel <id>', 'the tunnel of that socket to connect as (postern tunnel create)');
  addRuleOptions(command)
    .option('--connections <n>', 'parallel tunnel connections to the edge', String(DEFAULT_CONNECTIONS))
    .option('--rewrite-host [host]', "send the app this Host header instead of the public one (default host:port of the app)")
    .option('--grace <duration>', 'on stop, how long in-flight requests may finish', `${DEFAULT_GRACE_MS / 1000}s`)
    .option('--json', 'print JSON lines (first: {"event":"ready","url":...})')
    .option('--edge <url>', 'edge URL (or POSTERN_EDGE; default: the one you logged in to)')
    .option('--token-file <file>', 'file holding an API token (or POSTERN_TOKEN; default: your login)')
    .action(async (opts: ConnectOptions) => {
      const port = parseIntInRange(opts.port, 1, 65535, '--port');
      const connections = parseIntInRange(opts.connections, 1, 16, '--connections');
      const graceMs = parseDuration(opts.grace, '--grace');
      if (!/^[A-Za-z0-9.:[\]-]+$/.test(opts.host)) throw new CliError(`--host must be a host name or address, not "${opts.host}"`);
      if (opts.socket && (opts.name || Object.keys(rulesBody(opts)).length > 0)) {
        throw new CliError('--name and access-rule flags describe a new quick share; for --socket change them with "postern socket update"');
      }
      const hostRewrite = opts.rewriteHost === true ? `${opts.host}:${port}` : opts.rewriteHost || undefined;
      const creds = resolveCredentials(opts);
      const api = new ApiClient(creds.edgeUrl, creds.token);
      const { socket, tunnelId, cleanUp } = await resolveServed(api, opts, port);

      const connector = new Connector({
        edgeUrl: creds.edgeUrl,
        token: creds.token,
        socketId: socket.id,
        tunnelId,
        target: { host: opts.host, port },
        connections,
        hostRewrite,
        graceMs,
        connectorId: randomUUID(),
      });
      const view = new ConnectView(socket, `${opts.host}:${port}`, Boolean(opts.json));

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
      await cleanUp();
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
