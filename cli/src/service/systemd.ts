import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { configDir } from '../credential-store.js';
import { CliError } from '../errors.js';
import type { Scope } from './unit.js';

/** Where a scope's units and tokens live. */
export interface ScopePaths {
  readonly unitDir: string;
  readonly tokenDir: string;
}

export function scopePaths(scope: Scope, env: NodeJS.ProcessEnv = process.env): ScopePaths {
  if (scope === 'system') return { unitDir: '/etc/systemd/system', tokenDir: '/etc/postern/services' };
  // $XDG_CONFIG_HOME: systemd reads user units from there, postern keeps its login there too.
  return { unitDir: join(dirname(configDir(env)), 'systemd', 'user'), tokenDir: join(configDir(env), 'services') };
}

/** Root manages the system's services by default, anyone else their own. */
export const defaultScope = (): Scope => (process.getuid?.() === 0 ? 'system' : 'user');

const scopeFlag = (scope: Scope): string[] => (scope === 'user' ? ['--user'] : []);

/** Runs `systemctl [--user] ARGS`; a failure is one line with what systemctl said. */
export function systemctl(scope: Scope, args: readonly string[]): string {
  const result = spawnSync('systemctl', [...scopeFlag(scope), ...args], { encoding: 'utf8' });
  if (result.error) {
    const missing = (result.error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new CliError(missing ? 'systemctl not found: "postern service" manages systemd units (Linux); --dry-run prints the unit anyway' : `systemctl: ${result.error.message}`);
  }
  if (result.status !== 0) {
    const said = `${result.stderr}${result.stdout}`.trim().split('\n')[0] ?? '';
    const hint = scope === 'user' && /bus|XDG_RUNTIME_DIR/i.test(said) ? ' (no user service manager for this session: log in as that user, or use --system as root)' : '';
    throw new CliError(`systemctl ${[...scopeFlag(scope), ...args].join(' ')} failed: ${said || `exit code ${result.status}`}${hint}`);
  }
  return result.stdout;
}

/** `systemctl show` properties of a unit (ActiveState, SubState, …), or undefined when the manager cannot say. */
export function unitState(scope: Scope, unit: string): Readonly<Record<string, string>> | undefined {
  try {
    const text = systemctl(scope, ['show', unit, '--property=ActiveState,SubState,MainPID,ActiveEnterTimestamp']);
    return Object.fromEntries(text.split('\n').filter((l) => l.includes('=')).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
  } catch {
    return undefined;
  }
}

/** `journalctl [--user] -u UNIT`, its output straight to ours; resolves with its exit code. */
export function journal(scope: Scope, unit: string, options: { lines: number; follow: boolean }): Promise<number> {
  const args = [...scopeFlag(scope), '-u', unit, '-n', String(options.lines), '--no-pager', ...(options.follow ? ['-f'] : [])];
  return new Promise((resolve, reject) => {
    const child = spawn('journalctl', args, { stdio: 'inherit' });
    child.once('error', (err: NodeJS.ErrnoException) =>
      reject(new CliError(err.code === 'ENOENT' ? 'journalctl not found: the logs of a systemd service are in its journal' : `journalctl: ${err.message}`)),
    );
    child.once('exit', (code) => resolve(code ?? 1));
  });
}
