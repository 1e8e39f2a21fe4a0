import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { pollUntil } from './wait.js';

export const TMUX_PATH = '/usr/bin/tmux';

export function tmuxAvailable(): boolean {
  return existsSync(TMUX_PATH);
}

let servers = 0;

/** Runs one tmux command against `server`, bounded. */
function tmux(server: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(TMUX_PATH, ['-L', server, ...args], { env, timeout: 5_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`tmux ${args[0]} failed: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
  });
}

/**
 * A real terminal for a program under test: a detached tmux session on a private server (`-L`), so
 * the tests never touch a tmux the user runs. The program sees a TTY of the given size.
 */
export class TmuxTerminal {
  private constructor(private readonly server: string) {}

  /** Starts `argv` (run directly, no shell) with exactly `env` in a `columns`×`rows` pane. */
  static async start(argv: readonly string[], env: NodeJS.ProcessEnv, columns = 120, rows = 30): Promise<TmuxTerminal> {
    const server = `postern-test-${process.pid}-${++servers}`;
    const assignments = Object.entries(env).flatMap(([key, value]) => (value === undefined ? [] : [`${key}=${value}`]));
    // `env -i` so the pane gets exactly `env`, whatever the tmux server inherited.
    await tmux(server, ['new-session', '-d', '-s', 'main', '-x', String(columns), '-y', String(rows), 'env', '-i', ...assignments, ...argv], env);
    return new TmuxTerminal(server);
  }

  /** The visible screen as text; with `escapes`, with its colours and attributes as escape sequences. */
  async capture(escapes = false): Promise<string> {
    const text = await tmux(this.server, ['capture-pane', '-p', ...(escapes ? ['-e'] : []), '-t', 'main']);
    return text.replace(/\n+$/, '\n');
  }

  /** Polls the screen until `ready(screen)`, bounded; the last screen is in the timeout message. */
  async waitFor(ready: (screen: string) => boolean, what: string, timeoutMs = 15_000): Promise<string> {
    let last = '';
    return pollUntil(
      async () => {
        last = await this.capture();
        return ready(last) ? last : undefined;
      },
      { timeoutMs, intervalMs: 100, what: () => `${what}; the screen:\n${last}` },
    );
  }

  /** Ends the session and the private server; the program in the pane gets SIGHUP. */
  async kill(): Promise<void> {
    await tmux(this.server, ['kill-server']).catch(() => undefined);
  }
}
