import { execFileSync } from 'node:child_process';
import { chownSync, existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PostgresDriver } from '@postern/edge/sql';
import { ManagedProcess, runToExit } from './process.js';
import { freePort } from './postern.js';
import { pollUntil } from './wait.js';

/**
 * A throwaway PostgreSQL server for the tests: `initdb` in a temp dir, `postgres` on a free
 * loopback port, durability off (the data dies with the test). Missing binaries are a failure,
 * never a skip: `.ci/run` installs Debian's `postgresql`.
 *
 * The server refuses to run as root. As root, initdb runs through `runuser -u postgres` and the
 * server through `setpriv`, which execs it (so it is our own child, stopped by its pid) with a
 * parent-death signal (so a test run that dies cannot leave it behind).
 */
export class PostgresServer {
  private proc: ManagedProcess | undefined;
  private databases = 0;

  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly bin: string,
  ) {}

  static async start(): Promise<PostgresServer> {
    const bin = findServerBinaries();
    const dir = mkdtempSync(join(tmpdir(), 'postern-pg-'));
    const asRoot = process.getuid?.() === 0;
    if (asRoot) chownSync(dir, postgresId('-u'), postgresId('-g'));
    const initdb = [join(bin, 'initdb'), '-D', join(dir, 'data'), '-A', 'trust', '-U', 'postgres', '-E', 'UTF8', '--no-locale', '--no-sync', '--no-instructions'];
    const result = await runToExit('initdb', asRoot ? 'runuser' : initdb[0]!, asRoot ? ['-u', 'postgres', '--', ...initdb] : initdb.slice(1), serverEnv(), 60_000);
    if (result.code !== 0) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`initdb failed (exit ${result.code}):\n${[...result.stdout, ...result.stderr].join('\n')}`);
    }
    const server = new PostgresServer(dir, await freePort(), bin);
    try {
      await server.resume();
    } catch (err) {
      await server.destroy();
      throw err;
    }
    return server;
  }

  get running(): boolean {
    return this.proc?.running === true;
  }

  /** The postmaster's pid (its backends are its children), while running. */
  get pid(): number | undefined {
    return this.proc?.pid;
  }

  /** The URL of a database on this server (default: the maintenance database). */
  url(database = 'postgres'): string {
    return `postgres://postgres@127.0.0.1:${this.port}/${database}`;
  }

  /** A new, empty database; its URL. */
  async createDatabase(): Promise<string> {
    const name = `t${++this.databases}`;
    const admin = new PostgresDriver(this.url(), { maxConnections: 1 });
    try {
      await admin.exec(`CREATE DATABASE ${name}`);
    } finally {
      await admin.close();
    }
    return this.url(name);
  }

  /** Starts the server (again, after `stop`) on the same port and data; resolves once it answers. */
  async resume(): Promise<void> {
    if (this.running) return;
    const postgres = [join(this.bin, 'postgres'), '-D', join(this.dir, 'data'), '-p', String(this.port), '-k', this.dir];
    const settings = ['listen_addresses=127.0.0.1', 'fsync=off', 'synchronous_commit=off', 'full_page_writes=off', 'max_connections=200'];
    const args = [...postgres.slice(1), ...settings.flatMap((s) => ['-c', s])];
    this.proc =
      process.getuid?.() === 0
        ? new ManagedProcess('postgres', 'setpriv', ['--reuid=postgres', '--regid=postgres', '--clear-groups', '--pdeathsig', 'SIGKILL', '--', postgres[0]!, ...args], serverEnv())
        : new ManagedProcess('postgres', postgres[0]!, args, serverEnv());
    await this.proc.waitForLine((line) => line.includes('database system is ready to accept connections'), 30_000, 'postgres ready');
    const probe = new PostgresDriver(this.url(), { maxConnections: 1, connectTimeoutMs: 2_000 });
    try {
      await pollUntil(async () => ((await probe.ping()) ? true : undefined), { timeoutMs: 10_000, intervalMs: 100, what: 'postgres to answer' });
    } finally {
      await probe.close();
    }
  }

  /** Fast shutdown (SIGINT: clients are disconnected, the data stays): an outage. */
  async stop(): Promise<void> {
    if (!this.proc?.running) return;
    await this.proc.stop('SIGINT', 20_000);
  }

  /** The server's log so far, for failure messages. */
  output(): string {
    return this.proc?.output() ?? '';
  }

  async destroy(): Promise<void> {
    await this.stop().catch(() => this.proc?.signal('SIGKILL'));
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function serverEnv(): NodeJS.ProcessEnv {
  return { PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C' };
}

function postgresId(flag: '-u' | '-g'): number {
  try {
    return Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  } catch {
    throw new Error('running as root, but there is no "postgres" user to run the PostgreSQL server as: install Debian\'s postgresql');
  }
}

/** `POSTERN_PG_BIN`, else the newest /usr/lib/postgresql/N/bin (Debian's layout). */
function findServerBinaries(): string {
  const candidates: string[] = [];
  if (process.env.POSTERN_PG_BIN) candidates.push(process.env.POSTERN_PG_BIN);
  if (existsSync('/usr/lib/postgresql')) {
    const versions = readdirSync('/usr/lib/postgresql').filter((v) => /^\d+$/.test(v)).sort((a, b) => Number(b) - Number(a));
    candidates.push(...versions.map((v) => `/usr/lib/postgresql/${v}/bin`));
  }
  const found = candidates.find((dir) => existsSync(join(dir, 'postgres')) && existsSync(join(dir, 'initdb')));
  if (!found) {
    throw new Error(
      `PostgreSQL server binaries not found (looked in ${candidates.join(', ') || '/usr/lib/postgresql/*/bin'}): install Debian's postgresql, or set POSTERN_PG_BIN`,
    );
  }
  return found;
}
