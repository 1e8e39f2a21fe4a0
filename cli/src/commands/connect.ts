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

export function registerConnect(program: Command): void {
  program
    .command('connect')
    .description('publish a local port through the edge; prints the public URL')
    .requiredOption('--port <port>', 'local port of the app')
    .option('--host <host>', 'local host of the app', '127.0.0.1')
    .option('--name <name>', 'name of the socket (quick share: created now, removed on exit)')
    .option('--socket <id>', 'an existing socket to serve instead of creating one')
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
        : await api.createSocket({ name: opts.name ?? `app-${port}`, ephemeral: true });

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
      });
      return;
    }
    out.success(`${socket.name} is live at ${out.highlight(socket.url)} → ${this.target}`);
    if (!socket.cloudauth) out.warn('this socket is open: anyone who knows the URL can reach it (no sign-in)');
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
