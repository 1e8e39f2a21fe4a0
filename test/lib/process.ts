import { spawn, type ChildProcess } from 'node:child_process';
import { withTimeout } from './wait.js';

/** Every child started by the tests, so `after` hooks (and process exit) can kill what is left. */
const live = new Set<ManagedProcess>();

export interface ExitInfo {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
}

type LineListener = (line: string, stream: 'stdout' | 'stderr') => void;

/**
 * A child process whose stdout and stderr are captured line by line. Waits are bounded;
 * `stop()` sends a signal and escalates to SIGKILL if the child does not exit in time.
 */
export class ManagedProcess {
  readonly child: ChildProcess;
  readonly stdoutLines: string[] = [];
  readonly stderrLines: string[] = [];
  readonly exited: Promise<ExitInfo>;
  exitInfo: ExitInfo | undefined;
  private readonly listeners = new Set<LineListener>();

  constructor(
    readonly label: string,
    command: string,
    args: readonly string[],
    env: NodeJS.ProcessEnv,
    cwd?: string,
  ) {
    this.child = spawn(command, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(this);
    this.exited = new Promise<ExitInfo>((resolve) => {
      this.child.once('exit', (code, signal) => {
        this.exitInfo = { code, signal };
        live.delete(this);
        resolve(this.exitInfo);
      });
      this.child.once('error', () => {
        this.exitInfo ??= { code: null, signal: null };
        live.delete(this);
        resolve(this.exitInfo);
      });
    });
    this.capture('stdout', this.stdoutLines);
    this.capture('stderr', this.stderrLines);
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  /** All captured output, for assertion messages. */
  output(): string {
    return `--- ${this.label} stdout ---\n${this.stdoutLines.join('\n')}\n--- ${this.label} stderr ---\n${this.stderrLines.join('\n')}`;
  }

  /** Resolves with the first line (already seen or future) that matches; rejects on exit or timeout. */
  waitForLine(match: (line: string, stream: 'stdout' | 'stderr') => boolean, timeoutMs: number, what: string): Promise<string> {
    for (const line of this.stdoutLines) if (match(line, 'stdout')) return Promise.resolve(line);
    for (const line of this.stderrLines) if (match(line, 'stderr')) return Promise.resolve(line);
    let listener: LineListener | undefined;
    const found = new Promise<string>((resolve, reject) => {
      listener = (line, stream) => {
        if (match(line, stream)) resolve(line);
      };
      this.listeners.add(listener);
      this.exited.then((info) => {
        // Let the last lines of output arrive before giving up.
        setTimeout(() => reject(new Error(`${this.label} exited (code ${info.code}, signal ${info.signal}) before ${what}\n${this.output()}`)), 50);
      });
    });
    return withTimeout(found, timeoutMs, `${this.label}: ${what}\n${this.output()}`).finally(() => {
      if (listener) this.listeners.delete(listener);
    });
  }

  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** Sends `signal`, waits up to `timeoutMs` for the exit, then SIGKILLs. Returns how it exited. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', timeoutMs = 10_000): Promise<ExitInfo> {
    if (!this.running) return this.exitInfo!;
    this.child.kill(signal);
    try {
      return await withTimeout(this.exited, timeoutMs, `${this.label} to exit after ${signal}`);
    } catch (err) {
      this.child.kill('SIGKILL');
      await withTimeout(this.exited, 5_000, `${this.label} to exit after SIGKILL`).catch(() => undefined);
      throw err;
    }
  }

  /** Waits for the exit without sending anything. */
  waitExit(timeoutMs: number): Promise<ExitInfo> {
    return withTimeout(this.exited, timeoutMs, `${this.label} to exit`);
  }

  private capture(name: 'stdout' | 'stderr', lines: string[]): void {
    const stream = this.child[name];
    if (!stream) return;
    stream.setEncoding('utf8');
    let partial = '';
    const emit = (line: string) => {
      lines.push(line);
      for (const listener of this.listeners) listener(line, name);
      if (process.env.POSTERN_TEST_VERBOSE) process.stderr.write(`[${this.label}:${name}] ${line}\n`);
    };
    stream.on('data', (chunk: string) => {
      partial += chunk;
      let index: number;
      while ((index = partial.indexOf('\n')) !== -1) {
        emit(partial.slice(0, index).replace(/\r$/, ''));
        partial = partial.slice(index + 1);
      }
    });
    stream.on('end', () => {
      if (partial) emit(partial);
      partial = '';
    });
  }
}

/** Kills every child still running (SIGKILL), waiting briefly for each. Safe to call many times. */
export async function killAll(): Promise<void> {
  const pending = [...live];
  for (const proc of pending) proc.child.kill('SIGKILL');
  await Promise.all(pending.map((proc) => withTimeout(proc.exited, 5_000, `${proc.label} to die`).catch(() => undefined)));
}

process.on('exit', () => {
  for (const proc of live) proc.child.kill('SIGKILL');
});

/** Runs a command to completion with a deadline; returns exit code and output. */
export async function runToExit(
  label: string,
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  timeoutMs = 15_000,
  cwd?: string,
): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string[]; stderr: string[] }> {
  const proc = new ManagedProcess(label, command, args, env, cwd);
  let info: ExitInfo;
  try {
    info = await withTimeout(proc.exited, timeoutMs, `${label} to finish`);
  } catch (err) {
    proc.child.kill('SIGKILL');
    throw err;
  }
  // 'exit' can precede the end of the pipes: wait for the streams to close.
  await withTimeout(
    Promise.all(
      [proc.child.stdout, proc.child.stderr].map(
        (s) => new Promise<void>((resolve) => (s && !s.readableEnded ? s.once('close', () => resolve()) : resolve())),
      ),
    ),
    2_000,
    `${label} output to close`,
  ).catch(() => undefined);
  return { code: info.code, signal: info.signal, stdout: [...proc.stdoutLines], stderr: [...proc.stderrLines] };
}
