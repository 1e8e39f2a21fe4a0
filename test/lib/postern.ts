import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { isPostgresUrl } from '@postern/edge/sql';
import { ManagedProcess, runToExit } from './process.js';
import { request } from './http.js';
import { pollUntil } from './wait.js';

const here = dirname(fileURLToPath(import.meta.url));
/** test/dist/lib → repository root. */
export const REPO_ROOT = resolve(here, '..', '..', '..');
export const CLI = join(REPO_ROOT, 'cli', 'bin', 'postern.js');

/** The parent environment without any POSTERN_* variable, so the tests decide every setting. */
export function cleanEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env)) {
    if (!key.startsWith('POSTERN_') && key !== 'FORCE_COLOR') env[key] = value;
  }
  return { ...env, NO_COLOR: '1', ...extra };
}

export function makeTempDir(prefix: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(join(tmpdir(), `postern-${prefix}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A port nothing listens on right now (the kernel's choice, released at once). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
}

/** Runs `postern ARGS` to completion. */
export function runCli(args: readonly string[], env: Record<string, string> = {}, timeoutMs = 15_000) {
  return runToExit(`postern ${args[0] ?? ''}`, process.execPath, [CLI, ...args], cleanEnv(env), timeoutMs);
}

export interface EdgeLogLine {
  level?: number;
  msg?: string;
  [key: string]: unknown;
}

/** How the edge and `postern admin` are told where the store is: a SQLite file (`--db`), or a PostgreSQL URL (`--store`). */
export const storeArgs = (target: string): string[] => (isPostgresUrl(target) ? ['--store', target] : ['--db', target]);

export interface EdgeOptions {
  /** A SQLite file, or a PostgreSQL URL. */
  readonly db: string;
  readonly port?: number;
  readonly extraArgs?: readonly string[];
  readonly label?: string;
  /**
   * The authority clients and connectors use (--domain) when something fronts the edge, e.g. a relay
   * on another port standing for a load balancer. Default `localhost:<listening port>`.
   */
  readonly domain?: string;
  /** Serve HTTPS with this chain and key; test clients and connectors trust its CA. */
  readonly tls?: EdgeTls | undefined;
  /** Clients reach the edge through a TLS proxy on 127.0.0.1:port (the edge's domain names that port). */
  readonly front?: { readonly port: number; readonly ca: TrustedCa } | undefined;
  /** More environment for client processes of this edge (a resolver preload for a real-looking domain). */
  readonly clientEnv?: Readonly<Record<string, string>> | undefined;
}

export interface TrustedCa {
  /** Given to connectors and the CLI as NODE_EXTRA_CA_CERTS. */
  readonly caFile: string;
  readonly caPem: string;
}

export interface EdgeTls extends TrustedCa {
  readonly certFile: string;
  readonly keyFile: string;
}

/** A running `postern edge` on 127.0.0.1. */
export class EdgeProcess {
  private constructor(
    readonly proc: ManagedProcess,
    readonly port: number,
    readonly db: string,
    readonly extraArgs: readonly string[],
    private readonly publicDomain: string | undefined,
    readonly tls: EdgeTls | undefined,
    readonly front: EdgeOptions['front'],
    private readonly extraClientEnv: Readonly<Record<string, string>> = {},
  ) {}

  /** Where clients connect: the edge itself, or the TLS proxy in front of it. */
  get publicPort(): number {
    return this.front?.port ?? this.port;
  }

  /** The CA clients must trust, when they reach the edge over TLS. */
  get ca(): TrustedCa | undefined {
    return this.front?.ca ?? this.tls;
  }

  /** The edge's own authority (`localhost:PORT`, or the fronting one): the API and the tunnel endpoint live there. */
  get domain(): string {
    return this.publicDomain ?? `localhost:${this.publicPort}`;
  }

  /** The URL connectors and the CLI use. */
  get url(): string {
    return `${this.ca ? 'https' : 'http'}://${this.domain}`;
  }

  /** Environment a client process of this edge needs (the test CA, over TLS). */
  get clientEnv(): Record<string, string> {
    return { ...(this.ca ? { NODE_EXTRA_CA_CERTS: this.ca.caFile } : {}), ...this.extraClientEnv };
  }

  /** Starts the edge and waits for its "edge listening" log line. Retries on a port race. */
  static async start(options: EdgeOptions): Promise<EdgeProcess> {
    const extraArgs = options.extraArgs ?? [];
    const tlsArgs = options.tls ? ['--tls-cert', options.tls.certFile, '--tls-key', options.tls.keyFile] : [];
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = options.port ?? (await freePort());
      const proc = new ManagedProcess(
        options.label ?? `edge:${port}`,
        process.execPath,
        [CLI, 'edge', '--listen', `127.0.0.1:${port}`, '--domain', options.domain ?? `localhost:${options.front?.port ?? port}`, ...storeArgs(options.db), ...tlsArgs, ...extraArgs],
        cleanEnv(),
      );
      try {
        await proc.waitForLine((line) => parseJson<EdgeLogLine>(line)?.msg === 'edge listening', 15_000, '"edge listening"');
        return new EdgeProcess(proc, port, options.db, extraArgs, options.domain, options.tls, options.front, options.clientEnv);
      } catch (err) {
        lastError = err;
        await proc.stop('SIGKILL', 5_000).catch(() => undefined);
        // A fixed port that is taken will stay taken: only a chosen port is worth another try.
        if (options.port !== undefined && !/EADDRINUSE/.test(String(err))) break;
      }
    }
    throw lastError;
  }

  /** Pino JSON lines logged so far. */
  logs(): EdgeLogLine[] {
    return this.proc.stdoutLines.map((line) => parseJson<EdgeLogLine>(line)).filter((l): l is EdgeLogLine => l !== undefined);
  }

  /** SIGTERM and wait for the exit. */
  stop(timeoutMs = 10_000) {
    return this.proc.stop('SIGTERM', timeoutMs);
  }

  /** Starts a new edge process on the same port and database. */
  restart(): Promise<EdgeProcess> {
    return EdgeProcess.start({ db: this.db, port: this.port, extraArgs: this.extraArgs, ...(this.publicDomain ? { domain: this.publicDomain } : {}), tls: this.tls, front: this.front, clientEnv: this.extraClientEnv });
  }
}

export function parseJson<T>(line: string): T | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null ? (value as T) : undefined;
  } catch {
    return undefined;
  }
}

/** Creates an account (with a local-account password when given) and returns a fresh API/tunnel token for it. */
export async function createAccount(db: string, email: string, password?: string): Promise<string> {
  let passwordArgs: string[] = [];
  if (password !== undefined) {
    const file = join(isPostgresUrl(db) ? tmpdir() : dirname(db), `password-${process.pid}-${email}`);
    writeFileSync(file, `${password}\n`, { mode: 0o600 });
    passwordArgs = ['--password-file', file];
  }
  const add = await runCli(['admin', 'user', 'add', email, ...passwordArgs, ...storeArgs(db)]).finally(() => passwordArgs[1] && rmSync(passwordArgs[1], { force: true }));
  if (add.code !== 0) throw new Error(`admin user add failed (${add.code}): ${add.stderr.join('\n')}`);
  const created = await runCli(['admin', 'token', 'create', email, ...storeArgs(db)]);
  if (created.code !== 0) throw new Error(`admin token create failed (${created.code}): ${created.stderr.join('\n')}`);
  const lines = created.stdout.filter((l) => l.trim() !== '');
  if (lines.length !== 1) throw new Error(`admin token create printed ${lines.length} lines, expected only the token: ${lines.join(' | ')}`);
  return lines[0]!.trim();
}

export interface SocketView {
  id: string;
  name: string;
  hostname: string;
  url: string;
  [key: string]: unknown;
}

/** Calls the edge's REST API with a bearer token. */
export async function api(
  edge: EdgeProcess,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; json: unknown }> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const res = await request({
    port: edge.publicPort,
    host: edge.domain,
    method,
    path: `/api/v1${path}`,
    headers: {
      authorization: `Bearer ${token}`,
      accept: 'application/json',
      ...(payload ? { 'content-type': 'application/json' } : {}),
    },
    body: payload,
    ca: edge.ca?.caPem,
  });
  const text = res.body.toString('utf8');
  return { status: res.status, json: text ? JSON.parse(text) : undefined };
}

/** Creates a persistent (non-ephemeral) socket through the API. */
export async function createSocket(edge: EdgeProcess, token: string, name: string): Promise<SocketView> {
  const res = await api(edge, token, 'POST', '/sockets', { name, ephemeral: false });
  if (res.status !== 201) throw new Error(`POST /sockets answered ${res.status}: ${JSON.stringify(res.json)}`);
  return res.json as SocketView;
}

export interface ConnectEvent {
  event: string;
  [key: string]: unknown;
}

export interface ReadyEvent extends ConnectEvent {
  event: 'ready';
  url: string;
  socket_id: string;
  hostname: string;
}

export interface ConnectorOptions {
  readonly edge: EdgeProcess;
  readonly token: string;
  readonly appPort: number;
  readonly args?: readonly string[];
  readonly label?: string;
  /** How long to wait for the ready line (default 15 s). */
  readonly readyTimeoutMs?: number;
}

/** A running `postern connect --json` whose tunnels are up. */
export class ConnectorProcess {
  private constructor(
    readonly proc: ManagedProcess,
    readonly socketId: string,
    /** Host header that reaches this connector's socket through the edge (`name-xxxx.localhost:PORT`). */
    readonly publicHost: string,
    /** The ready event; undefined only for a `startServing` connector that never printed it. */
    readonly ready: ReadyEvent | undefined,
  ) {}

  /** Starts `connect` and waits for its ready line, which must be the first line it prints. */
  static async start(options: ConnectorOptions): Promise<ConnectorProcess> {
    const proc = spawnConnector(options);
    try {
      const line = await proc.waitForLine(
        (l, stream) => stream === 'stdout' && parseJson<ConnectEvent>(l)?.event === 'ready',
        options.readyTimeoutMs ?? 15_000,
        'the ready line',
      );
      const ready = parseJson<ReadyEvent>(line)!;
      if (proc.stdoutLines.find((l) => l.trim() !== '') !== line) {
        throw new Error(`the ready event was not the first line printed:\n${proc.output()}`);
      }
      return new ConnectorProcess(proc, ready.socket_id, new URL(ready.url).host, ready);
    } catch (err) {
      await proc.stop('SIGKILL', 5_000).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Starts `connect` and waits until it serves: its ready line, or else the edge logging all its
   * tunnel connections for the socket. For tests about something other than the ready line, so a
   * missing ready line does not hide what they check. `name` (for an ephemeral socket) or
   * `socket` (with --socket) tells which socket to watch.
   */
  static async startServing(
    options: ConnectorOptions & { readonly socket?: SocketView; readonly name?: string; readonly connections?: number },
  ): Promise<ConnectorProcess> {
    const { edge } = options;
    const tunnels = options.connections ?? 2;
    const connectedBefore = new Map<unknown, number>();
    for (const line of edge.logs()) {
      if (line.msg === 'tunnel connected') connectedBefore.set(line.socket, (connectedBefore.get(line.socket) ?? 0) + 1);
    }
    const args = [...(options.args ?? [])];
    if (options.socket) args.push('--socket', options.socket.id);
    else if (options.name) args.push('--name', options.name);
    else throw new Error('startServing needs a socket or a name');
    const proc = spawnConnector({ ...options, args });
    let socket = options.socket;
    try {
      return await pollUntil(
        async () => {
          const readyLine = proc.stdoutLines.find((l) => parseJson<ConnectEvent>(l)?.event === 'ready');
          if (readyLine) {
            const ready = parseJson<ReadyEvent>(readyLine)!;
            return new ConnectorProcess(proc, ready.socket_id, new URL(ready.url).host, ready);
          }
          if (!proc.running) throw new Error(`connect exited (${proc.exitInfo?.code})\n${proc.output()}`);
          if (!socket) {
            const list = await api(edge, options.token, 'GET', '/sockets');
            socket = (list.json as SocketView[]).find((s) => s.name === options.name);
            if (!socket) return undefined;
          }
          const id = socket.id;
          const connected = edge.logs().filter((l) => l.msg === 'tunnel connected' && l.socket === id).length;
          if (connected - (connectedBefore.get(id) ?? 0) < tunnels) return undefined;
          return new ConnectorProcess(proc, id, new URL(socket.url).host, undefined);
        },
        { timeoutMs: options.readyTimeoutMs ?? 15_000, intervalMs: 100, what: () => `connect to serve\n${proc.output()}` },
      );
    } catch (err) {
      await proc.stop('SIGKILL', 5_000).catch(() => undefined);
      throw err;
    }
  }

  /** Every JSON event printed so far. */
  events(): ConnectEvent[] {
    return this.proc.stdoutLines.map((l) => parseJson<ConnectEvent>(l)).filter((e): e is ConnectEvent => e !== undefined);
  }

  stop(timeoutMs = 10_000) {
    return this.proc.stop('SIGTERM', timeoutMs);
  }
}

/** Spawns `postern connect --json` without waiting for anything (for error cases). */
export function spawnConnector(options: ConnectorOptions): ManagedProcess {
  return new ManagedProcess(
    options.label ?? `connect:${options.appPort}`,
    process.execPath,
    [CLI, 'connect', '--port', String(options.appPort), '--json', ...(options.args ?? [])],
    cleanEnv({ POSTERN_EDGE: options.edge.url, POSTERN_TOKEN: options.token, ...options.edge.clientEnv }),
  );
}
