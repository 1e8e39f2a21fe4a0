/**
 * Child-process helpers for the benchmark: every process the bench starts goes through `startProcess`,
 * runs in its own process group, logs to a file in the run's temp dir, and is stopped by `stopAll`
 * (SIGTERM to the group, SIGKILL after a grace period) at the end of the run and on failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readdirSync, readFileSync } from 'node:fs';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';

export interface StartOptions {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env?: NodeJS.ProcessEnv;
  readonly cwd?: string;
  /** Raise the open-files limit to this before exec (through /bin/sh's ulimit); lowered to the hard limit if refused. */
  readonly nofile?: number;
  /** Directory for `<name>.log`. */
  readonly logDir: string;
}

const live = new Set<Proc>();

export class Proc {
  readonly child: ChildProcess;
  readonly logPath: string;
  private readonly tail: string[] = [];
  private partial = '';
  private readonly lineWaiters = new Set<(line: string) => void>();
  exited: Promise<number | null>;
  exitCode: number | null | undefined = undefined;

  constructor(readonly opts: StartOptions) {
    this.logPath = join(opts.logDir, `${opts.name}.log`);
    const log = createWriteStream(this.logPath);
    let command = opts.command;
    let args = [...opts.args];
    if (opts.nofile) {
      // exec keeps the pid, so `pid` below is the real process, not the shell.
      const script = `ulimit -n ${opts.nofile} 2>/dev/null || ulimit -n "$(ulimit -Hn)"; exec "$@"`;
      args = ['-c', script, 'sh', command, ...args];
      command = '/bin/sh';
    }
    this.child = spawn(command, args, {
      cwd: opts.cwd,
      env: opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: true, // own process group: stopping it also stops what it forked (nginx workers, sshd sessions)
    });
    const onData = (chunk: Buffer): void => {
      log.write(chunk);
      const text = this.partial + chunk.toString('utf8');
      const lines = text.split('\n');
      this.partial = lines.pop() ?? '';
      for (const line of lines) {
        this.tail.push(line);
        if (this.tail.length > 40) this.tail.shift();
        for (const waiter of [...this.lineWaiters]) waiter(line);
      }
    };
    this.child.stdout?.on('data', onData);
    this.child.stderr?.on('data', onData);
    this.exited = new Promise((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitCode = code ?? (signal ? -1 : null);
        live.delete(this);
        log.end();
        resolve(code);
      });
      this.child.once('error', (err) => {
        this.tail.push(`spawn error: ${err.message}`);
        this.exitCode = -1;
        live.delete(this);
        log.end();
        resolve(-1);
      });
    });
    live.add(this);
  }

  get pid(): number {
    if (this.child.pid === undefined) throw new Error(`${this.opts.name} has no pid (failed to spawn)`);
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitCode === undefined;
  }

  /** Calls `listener` with every output line from now on. */
  onLine(listener: (line: string) => void): void {
    this.lineWaiters.add(listener);
  }

  /** Last lines of output, for error messages. */
  lastLines(n = 15): string {
    return this.tail.slice(-n).join('\n');
  }

  /** Resolves with the first output line (from now on) that `match` accepts; rejects on timeout or exit. */
  waitForLine<T>(match: (line: string) => T | undefined, timeoutMs: number): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const cleanup = (): void => {
        clearTimeout(timer);
        this.lineWaiters.delete(onLine);
      };
      const onLine = (line: string): void => {
        let value: T | undefined;
        try {
          value = match(line);
        } catch {
          value = undefined;
        }
        if (value !== undefined) {
          cleanup();
          resolve(value);
        }
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new Error(`${this.opts.name}: timed out after ${timeoutMs} ms waiting for output\n${this.lastLines()}`));
      }, timeoutMs);
      this.lineWaiters.add(onLine);
      void this.exited.then((code) => {
        if (!this.lineWaiters.has(onLine)) return;
        cleanup();
        reject(new Error(`${this.opts.name} exited (code ${code}) before it was ready\n${this.lastLines()}`));
      });
    });
  }

  /** SIGTERM to the process group, SIGKILL after `graceMs`; resolves once the process exited. */
  async stop(graceMs = 3000, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    if (!this.running || this.child.pid === undefined) return;
    // Descendants that left the group (sshd's per-connection processes call setsid) are stopped too.
    const strays = descendantPids(this.child.pid);
    signalGroup(this.child.pid, signal);
    for (const pid of strays) signalPid(pid, signal);
    const timer = setTimeout(() => signalGroup(this.child.pid!, 'SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(timer);
    // Whatever the leader left behind goes too.
    signalGroup(this.child.pid, 'SIGKILL');
    for (const pid of strays) signalPid(pid, 'SIGKILL');
  }
}

function signalPid(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(pid, signal);
  } catch {
    /* already gone */
  }
}

/** Pids of every live descendant of `root` (from /proc/<pid>/stat ppid links). */
export function descendantPids(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(entry));
      children.set(ppid, list);
    } catch {
      /* exited meanwhile */
    }
  }
  const out: number[] = [];
  const stack = [...(children.get(root) ?? [])];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    out.push(pid);
    stack.push(...(children.get(pid) ?? []));
  }
  return out;
}

function signalGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    try {
      process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  }
}

export function startProcess(opts: StartOptions): Proc {
  return new Proc(opts);
}

/** Stops every process still running, in reverse start order. */
export async function stopAll(graceMs = 3000): Promise<void> {
  const procs = [...live].reverse();
  for (const p of procs) await p.stop(graceMs);
}

/** Synchronous last resort (process 'exit' handler): SIGKILL every group still alive. */
export function killAllNow(): void {
  for (const p of live) if (p.child.pid !== undefined) signalGroup(p.child.pid, 'SIGKILL');
}

/** A TCP port on 127.0.0.1 that was free a moment ago. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once 127.0.0.1:port accepts a TCP connection (tried every `intervalMs`); rejects after `timeoutMs`. */
export async function waitForPort(port: number, timeoutMs: number, proc?: Proc, intervalMs = 100): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: '127.0.0.1', port });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
      socket.setTimeout(1000, () => {
        socket.destroy();
        resolve(false);
      });
    });
    if (ok) return;
    if (proc && !proc.running) throw new Error(`${proc.opts.name} exited before listening on ${port}\n${proc.lastLines()}`);
    if (Date.now() > deadline) throw new Error(`nothing listening on 127.0.0.1:${port} after ${timeoutMs} ms${proc ? `\n${proc.lastLines()}` : ''}`);
    await sleep(intervalMs);
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Resident set size of a process in bytes (VmRSS from /proc/<pid>/status). */
export function rssBytes(pid: number | 'self'): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!match) throw new Error(`no VmRSS for ${pid}`);
  return Number(match[1]) * 1024;
}

/** Soft open-files limit of a process (from /proc/<pid>/limits). */
export function openFilesLimit(pid: number | 'self'): number {
  const limits = readFileSync(`/proc/${pid}/limits`, 'utf8');
  const match = /^Max open files\s+(\d+|unlimited)/m.exec(limits);
  if (!match) return 1024;
  return match[1] === 'unlimited' ? Number.MAX_SAFE_INTEGER : Number(match[1]);
}

/** Runs a command to completion with a time limit; resolves with its stdout (rejects on failure). */
export function runCommand(
  command: string,
  args: readonly string[],
  opts: { timeoutMs?: number; env?: NodeJS.ProcessEnv; input?: string } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 30_000);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      if (code === 0) resolve(stdout);
      else reject(new Error(`${command} ${args.join(' ')} failed (${signal ?? code}): ${stderr.trim() || stdout.trim()}`));
    });
    // A child that exits without reading its stdin makes this write fail (EPIPE): its exit code tells.
    child.stdin.on('error', () => undefined);
    child.stdin.end(opts.input ?? '');
  });
}
