import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { CLI, cleanEnv, runCli } from './postern.js';
import { ManagedProcess } from './process.js';

export interface CliRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string[];
  readonly stderr: string[];
}

/** Lines that are not blank. */
export const nonEmpty = (lines: readonly string[]): string[] => lines.filter((l) => l.trim() !== '');

/** A readable dump of a run, for assertion messages. */
export function describeRun(args: readonly string[], run: CliRun): string {
  return `postern ${args.join(' ')} → exit ${run.code} (signal ${run.signal})\n--- stdout ---\n${run.stdout.join('\n')}\n--- stderr ---\n${run.stderr.join('\n')}`;
}

/**
 * A person at a terminal: every `postern` run gets this person's own config directory
 * (XDG_CONFIG_HOME and HOME point into a temp dir, so the real ~/.config is never read or written)
 * and no POSTERN_* variable unless given.
 */
export class CliUser {
  readonly xdg: string;
  readonly home: string;

  constructor(
    dir: string,
    /** Environment every run of this user gets (e.g. POSTERN_EDGE). */
    readonly env: Record<string, string> = {},
  ) {
    this.xdg = join(dir, 'xdg');
    this.home = join(dir, 'home');
    mkdirSync(this.xdg, { recursive: true });
    mkdirSync(this.home, { recursive: true });
  }

  /** Where `postern login` stores the token for this user. */
  get credentialsDir(): string {
    return join(this.xdg, 'postern');
  }

  get credentialsFile(): string {
    return join(this.credentialsDir, 'credentials.json');
  }

  private fullEnv(extra: Record<string, string>): Record<string, string> {
    return { XDG_CONFIG_HOME: this.xdg, HOME: this.home, ...this.env, ...extra };
  }

  /** `postern ARGS` to completion (default deadline 15 s). */
  run(args: readonly string[], extraEnv: Record<string, string> = {}, timeoutMs = 15_000): Promise<CliRun> {
    return runCli(args, this.fullEnv(extraEnv), timeoutMs);
  }

  /** Runs a command that must succeed and print exactly one JSON document on stdout; returns it parsed. */
  async json<T = Record<string, unknown>>(args: readonly string[], extraEnv: Record<string, string> = {}): Promise<T> {
    const run = await this.run(args, extraEnv);
    assert.equal(run.code, 0, describeRun(args, run));
    const lines = nonEmpty(run.stdout);
    assert.equal(lines.length, 1, `one JSON document on stdout\n${describeRun(args, run)}`);
    let parsed: unknown;
    try {
      parsed = JSON.parse(lines[0]!);
    } catch {
      assert.fail(`stdout is not JSON\n${describeRun(args, run)}`);
    }
    return parsed as T;
  }

  /**
   * Runs a command that must fail the way the CLI promises: non-zero exit, nothing on stdout, exactly
   * one line on stderr starting with "error:", no stack trace. Returns that line.
   */
  async fails(args: readonly string[], extraEnv: Record<string, string> = {}, timeoutMs = 15_000): Promise<string> {
    const run = await this.run(args, extraEnv, timeoutMs);
    return assertOneErrorLine(args, run);
  }

  /** Spawns a long-running `postern ARGS` (connect, login, demo) without waiting. */
  spawn(label: string, args: readonly string[], extraEnv: Record<string, string> = {}): ManagedProcess {
    return new ManagedProcess(label, process.execPath, [CLI, ...args], cleanEnv(this.fullEnv(extraEnv)));
  }
}

/** The failure contract of every command: see CliUser.fails. */
export function assertOneErrorLine(args: readonly string[], run: CliRun): string {
  const what = describeRun(args, run);
  assert.notEqual(run.code, 0, `non-zero exit\n${what}`);
  assert.equal(run.signal, null, `exited by itself, not by a signal\n${what}`);
  assert.doesNotMatch(run.stderr.join('\n'), /^\s+at /m, `no stack trace\n${what}`);
  const lines = nonEmpty(run.stderr);
  assert.equal(lines.length, 1, `exactly one line on stderr\n${what}`);
  assert.match(lines[0]!, /^error: \S/, `the line starts with "error:"\n${what}`);
  assert.deepEqual(nonEmpty(run.stdout), [], `nothing on stdout\n${what}`);
  return lines[0]!;
}

/** Writes a token into a 0600 file (tokens never travel in argv). */
export function writeTokenFile(path: string, token: string): string {
  writeFileSync(path, `${token}\n`, { mode: 0o600 });
  return path;
}

/** A tiny app on a chosen 127.0.0.1 port (for "start the app later on the port connect serves"). */
export async function startAppOnPort(port: number, body = 'app is up'): Promise<{ close: () => Promise<void>; hits: () => number }> {
  let hits = 0;
  const server = http.createServer((_req, res) => {
    hits++;
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.end(body);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  return {
    hits: () => hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
