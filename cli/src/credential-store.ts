import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { CliError } from './errors.js';

/** What `postern login` keeps: one edge and its token. */
export interface StoredLogin {
  readonly edge: string;
  readonly token: string;
  readonly email: string;
  readonly token_id: string;
  readonly expires_at: string | null;
}

/** `$XDG_CONFIG_HOME/postern` (default `~/.config/postern`), per the XDG base directory spec. */
export function configDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : join(homedir(), '.config');
  return join(base, 'postern');
}

export const credentialsPath = (env: NodeJS.ProcessEnv = process.env): string => join(configDir(env), 'credentials.json');

/** The stored login, or undefined when there is none (a damaged file is an error: it may hold a token). */
export function readLogin(env: NodeJS.ProcessEnv = process.env): StoredLogin | undefined {
  const path = credentialsPath(env);
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new CliError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  try {
    const parsed = JSON.parse(text) as Partial<StoredLogin>;
    if (typeof parsed.edge === 'string' && typeof parsed.token === 'string') return parsed as StoredLogin;
  } catch {
    /* reported below */
  }
  throw new CliError(`${path} is damaged: run "postern logout" and "postern login" again`);
}

/** Writes `text` readable by its owner only (0700 directory, 0600 file), replacing any other. */
export function writePrivateFile(path: string, text: string): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  chmodSync(dir, 0o700);
  // 0600 before the text goes in (created so, or an older file narrowed first): a token is never
  // readable by others, not even for an instant.
  if (existsSync(path)) chmodSync(path, 0o600);
  writeFileSync(path, text, { mode: 0o600 });
}

/** Writes the login readable by its owner only, replacing any other. */
export function writeLogin(login: StoredLogin, env: NodeJS.ProcessEnv = process.env): string {
  const path = credentialsPath(env);
  writePrivateFile(path, `${JSON.stringify(login, null, 2)}\n`);
  return path;
}

export function removeLogin(env: NodeJS.ProcessEnv = process.env): void {
  rmSync(credentialsPath(env), { force: true });
}
