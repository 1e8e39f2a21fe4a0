/**
 * Starting the things the bench measures: the origin app, Postern (edge + connector), nginx and
 * `ssh -R`. Everything listens on 127.0.0.1 only; every process is a Proc (see procs.ts).
 */
import { accessSync, chmodSync, constants, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { randomBytes } from 'node:crypto';
import { delimiter, join } from 'node:path';
import { PostgresServer } from '#test-lib/postgres.js';
import { storeArgs } from '#test-lib/postern.js';
import { freePort, runCommand, startProcess, waitForPort, type Proc } from './procs.js';
import type { TargetKey } from './results.js';
import type { Endpoint } from './transfer.js';

export interface Target extends Endpoint {
  readonly key: TargetKey;
  readonly label: string;
  /** Processes on the path (not the origin), by role; their process groups are CPU-metered. */
  readonly procs: ReadonlyMap<string, Proc>;
  stop(): Promise<void>;
}

/** Open-files limit requested for every server process (10,000 idle WebSockets need ~10,000 each). */
const NOFILE = 65536;

export function which(name: string, extra: readonly string[] = []): string | undefined {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/sbin', ...extra];
  for (const dir of dirs) {
    if (!dir) continue;
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      /* next */
    }
  }
  return undefined;
}

// ---------------------------------------------------------------- origin

export interface Origin {
  readonly port: number;
  readonly proc: Proc;
}

/** Starts one of the bench's Node servers (`bench/dist/lib/<script>.js ARGS`); resolves once it printed its port. */
async function startNodeServer(repoRoot: string, dir: string, name: string, script: string, args: readonly string[]): Promise<Origin> {
  const proc = startProcess({
    name,
    command: process.execPath,
    args: [join(repoRoot, `bench/dist/lib/${script}.js`), ...args],
    nofile: NOFILE,
    logDir: dir,
  });
  const port = await proc.waitForLine((line) => {
    const msg = JSON.parse(line) as { event?: string; port?: number };
    return msg.event === 'listening' ? msg.port : undefined;
  }, 15_000);
  return { port, proc };
}

export function startOrigin(repoRoot: string, dir: string): Promise<Origin> {
  return startNodeServer(repoRoot, dir, 'origin', 'origin', ['0']);
}

export function directTarget(origin: Origin): Target {
  return {
    key: 'direct',
    label: 'direct',
    port: origin.port,
    host: undefined,
    procs: new Map(),
    stop: async () => undefined,
  };
}

// ---------------------------------------------------------------- postern

export interface PosternOptions {
  readonly tag: string;
  /** Tunnel connections the connector opens (1: everything shares one tunnel). */
  readonly connections: number;
  /** Extra node flags for the edge (e.g. --cpu-prof). */
  readonly edgeNodeFlags?: readonly string[];
  /** Extra node flags for the connector. */
  readonly connectorNodeFlags?: readonly string[];
  /** Publish behind a 20-rule policy (bench/signed-in-policy.yaml) and send every request with the owner's bearer token. */
  readonly signedIn?: boolean;
  /** Run the connector with the request inspector on (`--inspect`, its defaults: 100 exchanges, 64 KiB bodies). */
  readonly inspect?: boolean;
}

export interface PosternTarget extends Target {
  readonly edge: Proc;
  readonly connector: Proc;
  readonly url: string;
}

/** An edge database (SQLite file or PostgreSQL URL) with one user and an API token for it. */
export interface PosternAccount {
  readonly db: string;
  readonly token: string;
}


/**
 * The bench is one client address opening 10 000 WebSockets and aborting load-generator requests at
 * the end of every phase: it measures capacity, so the per-client limits are lifted (and the streams
 * per connection set to what a connector accepts). Limits themselves are tested in test/limits.test.ts.
 */
const CAPACITY_LIMITS = ['--max-streams-per-user', '1000000', '--max-streams-per-connection', '20000', '--max-client-resets', '1000000', '--max-connections-per-address', '1000000'];

/** The account in `db` (default: a new SQLite file for `tag`). */
export async function createAccount(repoRoot: string, dir: string, tag: string, db = join(dir, `postern-${tag}.db`)): Promise<PosternAccount> {
  const cli = join(repoRoot, 'cli/bin/postern.js');
  const email = 'bench@postern.invalid';
  await runCommand(process.execPath, [cli, 'admin', 'user', 'add', email, ...storeArgs(db)], { timeoutMs: 20_000 });
  const token = (await runCommand(process.execPath, [cli, 'admin', 'token', 'create', email, ...storeArgs(db)], { timeoutMs: 20_000 })).trim();
  if (!/^\S+$/.test(token)) throw new Error(`unexpected token output: ${JSON.stringify(token)}`);
  return { db, token };
}

export interface EdgeStart {
  /** Log file name (a restarted edge gets a new one). */
  readonly name: string;
  readonly port: number;
  readonly db: string;
  readonly nodeFlags?: readonly string[];
  /** The domain served, when it is not this edge's own address (edges of a cluster share one). */
  readonly domain?: string;
  /** More edge flags (a cluster's secret file and advertised URL). */
  readonly extraArgs?: readonly string[];
}

/** Starts `postern edge` on 127.0.0.1:port; resolves once the port accepts connections. */
export async function startEdge(repoRoot: string, dir: string, opts: EdgeStart): Promise<Proc> {
  const edge = startProcess({
    name: opts.name,
    command: process.execPath,
    args: [
      ...(opts.nodeFlags ?? []),
      join(repoRoot, 'cli/bin/postern.js'), 'edge', '--listen', `127.0.0.1:${opts.port}`, '--domain', opts.domain ?? `localhost:${opts.port}`, ...storeArgs(opts.db), '--log-level', 'warn',
      ...CAPACITY_LIMITS, ...(opts.extraArgs ?? []),
    ],
    nofile: NOFILE,
    logDir: dir,
    cwd: dir,
  });
  await waitForPort(opts.port, 20_000, edge, 10);
  return edge;
}

/** Runs a `postern` client command against an edge (e.g. `socket create`); resolves with its stdout. */
export function posternClient(repoRoot: string, edgePort: number, token: string, args: readonly string[]): Promise<string> {
  return runCommand(process.execPath, [join(repoRoot, 'cli/bin/postern.js'), ...args], {
    timeoutMs: 20_000,
    env: { ...process.env, POSTERN_EDGE: `http://localhost:${edgePort}`, POSTERN_TOKEN: token, NO_COLOR: '1' },
  });
}

export interface ConnectorStart {
  /** Log file name (retries get a suffix). */
  readonly name: string;
  readonly edgePort: number;
  readonly token: string;
  /** The app's port (left out with `--config`, whose entries name their targets). */
  readonly appPort?: number;
  /** What to serve: `['--name', n]` (a quick share), `['--socket', id]` or `['--config', file]`. */
  readonly serve: readonly string[];
  readonly connections: number;
  readonly extraArgs?: readonly string[];
  readonly nodeFlags?: readonly string[];
  /** Gets every output line from the start (the lines printed with "ready" included). */
  readonly onLine?: (line: string) => void;
}

const CONNECTOR_READY_MS = 10_000;
/** Connector starts that had to be retried (reported by the bench: each one is a product bug showing). */
export const connectorRetries: string[] = [];

/**
 * Starts `postern connect --json` and resolves with it and its public URL once it printed "ready".
 * A connector that never prints "ready" is restarted (see connectorRetries): a tunnel whose HELLO
 * was lost stays up but never announces its URL.
 */
export async function startConnector(repoRoot: string, dir: string, opts: ConnectorStart): Promise<{ proc: Proc; url: string }> {
  for (let attempt = 1; ; attempt++) {
    const connector = startProcess({
      name: `${opts.name}${attempt > 1 ? `-try${attempt}` : ''}`,
      command: process.execPath,
      args: [
        ...(opts.nodeFlags ?? []),
        join(repoRoot, 'cli/bin/postern.js'), 'connect', ...(opts.appPort === undefined ? [] : ['--port', String(opts.appPort)]), ...opts.serve, '--json', '--connections', String(opts.connections),
        ...(opts.extraArgs ?? []),
      ],
      env: { ...process.env, POSTERN_EDGE: `http://localhost:${opts.edgePort}`, POSTERN_TOKEN: opts.token, NO_COLOR: '1' },
      nofile: NOFILE,
      logDir: dir,
    });
    if (opts.onLine) connector.onLine(opts.onLine);
    try {
      const url = await connector.waitForLine((line) => {
        const msg = JSON.parse(line) as { event?: string; url?: string };
        return msg.event === 'ready' ? msg.url : undefined;
      }, CONNECTOR_READY_MS);
      return { proc: connector, url };
    } catch (err) {
      await connector.stop(3000);
      connectorRetries.push(`${opts.name}: connector attempt ${attempt} printed no "ready" within ${CONNECTOR_READY_MS / 1000} s (${connector.lastLines(1) || 'no output'})`);
      if (attempt >= 4) throw err;
    }
  }
}

export async function startPostern(repoRoot: string, dir: string, origin: Origin, opts: PosternOptions): Promise<PosternTarget> {
  const port = await freePort();
  const { db, token } = await createAccount(repoRoot, dir, opts.tag);
  const edge = await startEdge(repoRoot, dir, { name: `edge-${opts.tag}`, port, db, ...(opts.edgeNodeFlags ? { nodeFlags: opts.edgeNodeFlags } : {}) });
  const { proc: conn, url } = await startConnector(repoRoot, dir, {
    name: `connector-${opts.tag}`,
    edgePort: port,
    token,
    appPort: origin.port,
    serve: ['--name', 'bench'],
    connections: opts.connections,
    extraArgs: ['--grace', '2s', ...(opts.signedIn ? ['--policy-file', join(repoRoot, 'bench', 'signed-in-policy.yaml')] : []), ...(opts.inspect ? ['--inspect', '127.0.0.1:0'] : [])],
    ...(opts.connectorNodeFlags ? { nodeFlags: opts.connectorNodeFlags } : {}),
  });
  const host = new URL(url).host;
  return {
    key: opts.signedIn ? 'postern-signed-in' : opts.inspect ? 'postern-inspect' : 'postern',
    label: opts.signedIn ? 'Postern (signed in)' : opts.inspect ? 'Postern (--inspect)' : 'Postern',
    port,
    host,
    ...(opts.signedIn ? { headers: { authorization: `Bearer ${token}` } } : {}),
    url,
    edge,
    connector: conn,
    procs: new Map([
      ['edge', edge],
      ['connector', conn],
    ]),
    stop: async () => {
      await conn.stop(5000);
      await edge.stop(5000);
    },
  };
}

export interface ClusterEdge {
  readonly proc: Proc;
  readonly port: number;
  /** Its --advertise URL, on its own listening address. */
  readonly url: string;
}

export interface BenchCluster {
  readonly pg: PostgresServer;
  /** The PostgreSQL URL every edge and `admin --store` use. */
  readonly store: string;
  /** What every edge serves: the first edge's own address, as a load balancer's name would be. */
  readonly domain: string;
  readonly edges: readonly ClusterEdge[];
  stop(): Promise<void>;
}

/**
 * `count` edges on one throwaway PostgreSQL serving one domain (`localhost:<first edge's port>`), each
 * with the cluster secret and its own address advertised; `edgeArgs(i)` adds flags to edge i.
 */
export async function startCluster(repoRoot: string, dir: string, tag: string, count: number, edgeArgs: (i: number) => readonly string[] = () => []): Promise<BenchCluster> {
  const pg = await PostgresServer.start();
  const edges: ClusterEdge[] = [];
  const stop = async (): Promise<void> => {
    for (const edge of [...edges].reverse()) await edge.proc.stop(5000);
    await pg.destroy();
  };
  try {
    const store = await pg.createDatabase();
    const secretFile = join(dir, `cluster-secret-${tag}`);
    writeFileSync(secretFile, `${randomBytes(32).toString('base64url')}\n`, { mode: 0o600 });
    const ports: number[] = [];
    for (let i = 0; i < count; i++) ports.push(await freePort());
    const domain = `localhost:${ports[0]}`;
    for (const [i, port] of ports.entries()) {
      const url = `http://127.0.0.1:${port}`;
      const proc = await startEdge(repoRoot, dir, { name: `edge-${tag}-${i + 1}`, port, db: store, domain, extraArgs: ['--cluster-secret-file', secretFile, '--advertise', url, ...edgeArgs(i)] });
      edges.push({ proc, port, url });
    }
    return { pg, store, domain, edges, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}

/**
 * Two edges on one PostgreSQL serving one domain, the connector on edge 1 and the load through edge 2:
 * every request is relayed edge to edge. Metered apart: `edge` (the one the client reached: routing,
 * policy, the relay's sending side) and `tunnel edge` (edge 1: the relay's receiving side and the
 * tunnel). PostgreSQL is not metered: nothing on the request path asks it, and its process tree's
 * CPU counters go backwards when a backend exits, which makes a per-request figure noise.
 */
export async function startPosternRelayed(repoRoot: string, dir: string, origin: Origin): Promise<PosternTarget> {
  const cluster = await startCluster(repoRoot, dir, 'relay', 2);
  try {
    const [tunnelEdge, entryEdge] = cluster.edges as [ClusterEdge, ClusterEdge];
    const { token } = await createAccount(repoRoot, dir, 'relay', cluster.store);
    const { proc: conn, url } = await startConnector(repoRoot, dir, {
      name: 'connector-relay',
      edgePort: tunnelEdge.port,
      token,
      appPort: origin.port,
      serve: ['--name', 'bench'],
      connections: 1,
      extraArgs: ['--grace', '2s'],
    });
    return {
      key: 'postern-relayed',
      label: 'Postern (relayed)',
      port: entryEdge.port,
      host: new URL(url).host,
      url,
      edge: entryEdge.proc,
      connector: conn,
      procs: new Map([
        ['edge', entryEdge.proc],
        ['tunnel edge', tunnelEdge.proc],
        ['connector', conn],
      ]),
      stop: async () => {
        await conn.stop(5000);
        await cluster.stop();
      },
    };
  } catch (err) {
    await cluster.stop();
    throw err;
  }
}

// ---------------------------------------------------------------- node floor

/** A bare node:http server proxying through an undici Pool (bench/lib/node-floor.ts). */
export async function startNodeFloor(repoRoot: string, dir: string, origin: Origin): Promise<Target> {
  const { port, proc } = await startNodeServer(repoRoot, dir, 'node-floor', 'node-floor', [String(origin.port)]);
  return {
    key: 'node-floor',
    label: 'Node floor',
    port,
    host: undefined,
    procs: new Map([['node floor', proc]]),
    stop: () => proc.stop(3000),
  };
}

// ---------------------------------------------------------------- nginx

export const NGINX_HINT = 'apt-get install nginx-light   (Debian/Ubuntu; any nginx with the proxy module works)';

export async function startNginx(dir: string, origin: Origin): Promise<Target> {
  const nginx = which('nginx');
  if (!nginx) throw new Error('nginx not found');
  const port = await freePort();
  const base = join(dir, 'nginx');
  mkdirSync(join(base, 'tmp'), { recursive: true });
  chmodSync(dir, 0o755); // workers may run as an unprivileged user
  const conf = join(base, 'nginx.conf');
  const log = join(base, 'error.log');
  const tmp = join(base, 'tmp');
  writeFileSync(
    conf,
    `# Generated by bench/run.ts: a plain streaming reverse proxy to the origin.
daemon off;
master_process on;
worker_processes 1;
worker_rlimit_nofile ${NOFILE};
pid ${join(base, 'nginx.pid')};
error_log ${log} warn;
events { worker_connections 30000; }
http {
  access_log off;
  client_body_temp_path ${tmp}/body;
  proxy_temp_path ${tmp}/proxy;
  fastcgi_temp_path ${tmp}/fastcgi;
  uwsgi_temp_path ${tmp}/uwsgi;
  scgi_temp_path ${tmp}/scgi;
  upstream origin {
    server 127.0.0.1:${origin.port};
    keepalive 128;
    keepalive_requests 1000000;
    keepalive_timeout 120s;
  }
  map $http_upgrade $connection_upgrade { default upgrade; '' ''; }
  server {
    listen 127.0.0.1:${port};
    keepalive_requests 1000000;
    keepalive_timeout 120s;
    client_max_body_size 0;
    location / {
      proxy_pass http://origin;
      proxy_http_version 1.1;
      proxy_set_header Host $http_host;
      proxy_set_header Upgrade $http_upgrade;
      proxy_set_header Connection $connection_upgrade;
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 600s;
      proxy_send_timeout 600s;
    }
  }
}
`,
  );
  const proc = startProcess({ name: 'nginx', command: nginx, args: ['-p', `${base}/`, '-e', log, '-c', conf], nofile: NOFILE, logDir: dir });
  await waitForPort(port, 10_000, proc);
  return {
    key: 'nginx',
    label: 'nginx',
    port,
    host: undefined,
    procs: new Map([['nginx', proc]]),
    stop: () => proc.stop(3000, 'SIGQUIT'),
  };
}

// ---------------------------------------------------------------- ssh -R

export const SSH_HINT = 'apt-get install openssh-server openssh-client   (the bench runs its own sshd on 127.0.0.1; the system one may stay stopped)';

export function sshTools(): { sshd: string; ssh: string; keygen: string } | undefined {
  const sshd = existsSync('/usr/sbin/sshd') ? '/usr/sbin/sshd' : undefined; // sshd insists on an absolute path
  const ssh = which('ssh');
  const keygen = which('ssh-keygen');
  return sshd && ssh && keygen ? { sshd, ssh, keygen } : undefined;
}

export async function startSshTunnel(dir: string, origin: Origin): Promise<Target> {
  const tools = sshTools();
  if (!tools) throw new Error('sshd, ssh or ssh-keygen not found');
  const base = join(dir, 'ssh');
  mkdirSync(base, { recursive: true, mode: 0o700 });
  const hostKey = join(base, 'host_ed25519');
  const clientKey = join(base, 'client_ed25519');
  await runCommand(tools.keygen, ['-q', '-t', 'ed25519', '-N', '', '-C', 'postern-bench-host', '-f', hostKey], { timeoutMs: 10_000 });
  await runCommand(tools.keygen, ['-q', '-t', 'ed25519', '-N', '', '-C', 'postern-bench-client', '-f', clientKey], { timeoutMs: 10_000 });
  const authorized = join(base, 'authorized_keys');
  writeFileSync(authorized, readFileSync(`${clientKey}.pub`), { mode: 0o600 });
  // sshd refuses to start without its privilege-separation directory (systemd creates it normally).
  if (process.getuid?.() === 0 && !existsSync('/run/sshd')) mkdirSync('/run/sshd', { mode: 0o755 });

  const sshdPort = await freePort();
  const remotePort = await freePort();
  const conf = join(base, 'sshd_config');
  writeFileSync(
    conf,
    `# Generated by bench/run.ts: a private sshd for the ssh -R comparison, loopback only.
Port ${sshdPort}
ListenAddress 127.0.0.1
HostKey ${hostKey}
PidFile ${join(base, 'sshd.pid')}
AuthorizedKeysFile ${authorized}
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
AllowTcpForwarding yes
GatewayPorts no
X11Forwarding no
PrintMotd no
UseDNS no
LogLevel ERROR
`,
    { mode: 0o600 },
  );
  const sshd = startProcess({ name: 'sshd', command: tools.sshd, args: ['-D', '-e', '-f', conf], nofile: NOFILE, logDir: dir });
  await waitForPort(sshdPort, 10_000, sshd);
  const user = userInfo().username;
  const ssh = startProcess({
    name: 'ssh',
    command: tools.ssh,
    args: [
      '-N',
      '-F', '/dev/null',
      '-o', 'StrictHostKeyChecking=no',
      '-o', 'UserKnownHostsFile=/dev/null',
      '-o', 'BatchMode=yes',
      '-o', 'ExitOnForwardFailure=yes',
      '-o', 'LogLevel=ERROR',
      '-i', clientKey,
      '-p', String(sshdPort),
      '-R', `127.0.0.1:${remotePort}:127.0.0.1:${origin.port}`,
      `${user}@127.0.0.1`,
    ],
    nofile: NOFILE,
    logDir: dir,
  });
  await waitForPort(remotePort, 15_000, ssh);
  return {
    key: 'ssh',
    label: 'ssh -R',
    port: remotePort,
    host: undefined,
    procs: new Map([
      ['sshd', sshd],
      ['ssh', ssh],
    ]),
    stop: async () => {
      await ssh.stop(3000);
      await sshd.stop(3000);
    },
  };
}
