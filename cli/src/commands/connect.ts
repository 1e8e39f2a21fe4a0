import { basename } from 'node:path';
import { ConnectorMetrics, DEFAULT_CONNECTIONS, DEFAULT_GRACE_MS } from '@postern/connector';
import type { MonitoringServer } from '@postern/shared';
import type { SocketView } from '@postern/edge';
import type { Command } from 'commander';
import { ApiClient } from '../api-client.js';
import { edgeOption } from '../client-command.js';
import { prepareConfig, readConfig, type ConfigEntry } from '../config-sockets.js';
import { resolveCredentials } from '../credentials.js';
import { CliError } from '../errors.js';
import { addInspectOptions, inspectSettings, startInspector, type InspectOptions } from '../inspect-options.js';
import { addLimitOptions, limitsBody, type LimitOptions } from '../limit-options.js';
import { parseDuration, parseIntInRange, parseListenAddress } from '../parse.js';
import { requireOption } from '../required-option.js';
import { addRuleOptions, rulesBody, type RuleOptions } from '../rule-options.js';
import { serveSockets, type ServedSocket } from '../serve-sockets.js';

interface ConnectOptions extends RuleOptions, LimitOptions, InspectOptions {
  port: string;
  host: string;
  name?: string;
  socket?: string;
  tunnel?: string;
  json?: boolean;
  quiet?: boolean;
  connections: string;
  rewriteHost?: string | boolean;
  grace: string;
  pingInterval: string;
  pingTimeout: string;
  edge?: string[];
  tokenFile?: string;
  metrics?: string;
  config?: string;
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
  const socket = await api.createSocket({ name: opts.name ?? `app-${port}`, ephemeral: true, ...rulesBody(opts), ...limitsBody(opts) });
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

async function serveMetrics(metrics: ConnectorMetrics, at: { host: string; port: number }): Promise<MonitoringServer> {
  try {
    return await metrics.serve(at.host, at.port);
  } catch (err) {
    throw new CliError(`cannot serve --metrics on ${at.host}:${at.port}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** Flags that describe the one socket of a plain connect, which the file describes under --config. */
const SINGLE_SOCKET_FLAGS = ['port', 'host', 'name', 'socket', 'tunnel', 'rewriteHost'] as const;

export function registerConnect(program: Command): void {
  const command = requireOption(
    program.command('connect').description('publish a local port (or every socket of a postern.yaml) through the edge and show requests live; prints the public URL'),
    '--port <port>',
    'local port of the app',
    '--port 3000',
    'config',
  )
    .option('--host <host>', 'local host of the app', '127.0.0.1')
    .option('--name <name>', 'name of the socket (quick share: created now, removed on exit)')
    .option('--socket <id>', 'serve an existing socket (postern socket create) instead of a quick share')
    .option('--tunnel <id>', 'the tunnel of that socket to connect as (postern tunnel create)')
    .option('--config <file>', 'serve every socket of this postern.yaml (each with its to:), creating or updating them and their tunnels first (idempotent)');
  addLimitOptions(addRuleOptions(command))
    .option('--connections <n>', 'parallel tunnel connections (per socket), spread over distinct edges when several are known', String(DEFAULT_CONNECTIONS))
    .option('--rewrite-host [host]', "send the app this Host header instead of the public one (default host:port of the app)")
    .option('--grace <duration>', 'on stop, how long in-flight requests may finish', `${DEFAULT_GRACE_MS / 1000}s`)
    .option('--ping-interval <duration>', 'how often to ping the edge on each tunnel connection', '10s')
    .option('--ping-timeout <duration>', 'reconnect a tunnel connection silent for this long', '25s')
    .option('--json', 'print JSON lines (first: {"event":"ready","url":...}; one ready line per socket with --config)')
    .option('--quiet', 'no line per request (the URL, warnings and tunnel state still show)');
  edgeOption(command)
    .option('--token-file <file>', 'file holding an API token (or POSTERN_TOKEN; default: your login)')
    .option('--metrics <[host:]port>', 'serve Prometheus /metrics, /healthz and /readyz here (host defaults to 127.0.0.1)');
  addInspectOptions(command).action(async (opts: ConnectOptions, cmd: Command) => {
    const connections = parseIntInRange(opts.connections, 1, 16, '--connections');
    const graceMs = parseDuration(opts.grace, '--grace');
    const pingIntervalMs = parseDuration(opts.pingInterval, '--ping-interval');
    const deadAfterMs = parseDuration(opts.pingTimeout, '--ping-timeout');
    if (pingIntervalMs <= 0) throw new CliError('--ping-interval must be greater than zero');
    if (deadAfterMs <= pingIntervalMs) throw new CliError('--ping-timeout must be longer than --ping-interval (a link is dead after missing more than one ping)');
    const rulesAndLimits = Object.keys({ ...rulesBody(opts), ...limitsBody(opts) }).length > 0;
    let single: { port: number; hostRewrite: string | undefined } | undefined;
    let config: ConfigEntry[] | undefined;
    if (opts.config !== undefined) {
      const given = SINGLE_SOCKET_FLAGS.filter((flag) => cmd.getOptionValueSource(flag) === 'cli');
      if (given.length > 0 || rulesAndLimits) {
        const names = given.map((flag) => `--${flag.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`);
        throw new CliError(`--config describes the sockets in the file: drop ${names.length > 0 ? names.join(', ') : 'the access-rule and limit flags'} (set to:, rewrite_host and the rules there)`);
      }
      config = readConfig(opts.config);
    } else {
      const port = parseIntInRange(opts.port, 1, 65535, '--port');
      if (!/^[A-Za-z0-9.:[\]-]+$/.test(opts.host)) throw new CliError(`--host must be a host name or address, not "${opts.host}"`);
      if (opts.socket && (opts.name || rulesAndLimits)) {
        throw new CliError('--name and access-rule flags describe a new quick share (so does --max-body-size); for --socket change them with "postern socket update"');
      }
      single = { port, hostRewrite: opts.rewriteHost === true ? `${opts.host}:${port}` : opts.rewriteHost || undefined };
    }
    const metricsAt = opts.metrics === undefined ? undefined : parseListenAddress(opts.metrics, '--metrics');
    const inspect = inspectSettings(opts);
    const creds = resolveCredentials(opts);
    const api = new ApiClient(creds.edgeUrls, creds.token);
    // Up before anything else, so probes see "not ready" (503) rather than nothing while it starts.
    let metrics: ConnectorMetrics | undefined;
    let monitoring: MonitoringServer | undefined;
    if (metricsAt) {
      metrics = new ConnectorMetrics();
      monitoring = await serveMetrics(metrics, metricsAt);
    }
    let served: ServedSocket[];
    let cleanUp = async (): Promise<void> => undefined;
    try {
      if (config) served = await prepareConfig(api, config);
      else {
        const resolved = await resolveServed(api, opts, single!.port);
        cleanUp = resolved.cleanUp;
        served = [{ socket: resolved.socket, tunnelId: resolved.tunnelId, target: { host: opts.host, port: single!.port }, hostRewrite: single!.hostRewrite }];
      }
    } catch (err) {
      await monitoring?.close();
      throw err;
    }
    const stopEarly = async (err: unknown): Promise<never> => {
      await cleanUp();
      await monitoring?.close();
      throw err;
    };
    const http = served.filter((s) => s.socket.protocol === 'http');
    if (inspect && http.length === 0) await stopEarly(new CliError(`--inspect shows HTTP requests; socket ${served[0]!.socket.name} is TCP`));
    const inspector = inspect ? await startInspector(inspect, config ? basename(opts.config!) : served[0]!.socket.name).catch(stopEarly) : undefined;

    const { failure, views } = await serveSockets(served, {
      edgeUrls: creds.edgeUrls,
      token: creds.token,
      connections,
      graceMs,
      pingIntervalMs,
      deadAfterMs,
      json: Boolean(opts.json),
      quiet: Boolean(opts.quiet),
      labelled: config !== undefined,
      metrics,
      inspector,
    });
    await cleanUp();
    await monitoring?.close();
    await inspector?.server.close();
    for (const view of views) view.flush();
    if (failure) throw new CliError(failure);
    views[0]!.stopped();
    process.exit(0);
  });
}
