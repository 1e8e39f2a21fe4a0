import { readFileSync } from 'node:fs';
import { readLogin } from './credential-store.js';
import { CliError } from './errors.js';

export interface ClientOptions {
  readonly edge?: string;
  readonly tokenFile?: string;
}

export interface Credentials {
  readonly edgeUrl: string;
  readonly token: string;
}

/** Where an edge URL came from, so an error blames what the user actually typed or set. */
export type EdgeSource = '--edge' | 'POSTERN_EDGE' | 'the stored login';

/** Validates an edge URL and returns its origin. */
export function parseEdgeUrl(edgeUrl: string, source: EdgeSource = '--edge'): string {
  let parsed: URL;
  try {
    parsed = new URL(edgeUrl);
  } catch {
    throw new CliError(`${source} must be a URL such as http://localhost:8080, not "${edgeUrl}"`);
  }
  if (!['http:', 'https:'].includes(parsed.protocol)) {
    // "localhost:8080" parses as a URL whose scheme is "localhost:".
    const guess = /^[A-Za-z0-9.-]+:\d+(\/.*)?$/.test(edgeUrl) ? ` (did you mean http://${edgeUrl}?)` : '';
    throw new CliError(`${source} must start with http:// or https://, not "${edgeUrl}"${guess}`);
  }
  return parsed.origin;
}

/** The edge to use, by precedence: the flag, then POSTERN_EDGE, then the stored login's. */
export function chooseEdge(flag: string | undefined, env: NodeJS.ProcessEnv, stored: string | undefined): { value: string; source: EdgeSource } | undefined {
  if (flag) return { value: flag, source: '--edge' };
  if (env.POSTERN_EDGE) return { value: env.POSTERN_EDGE, source: 'POSTERN_EDGE' };
  return stored ? { value: stored, source: 'the stored login' } : undefined;
}

/** Reads a token from a file (first line); tokens never come from argv, where ps would show them. */
export function readTokenFile(path: string): string {
  try {
    return readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new CliError(`cannot read --token-file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/**
 * Edge URL and token: flags win, then POSTERN_EDGE / POSTERN_TOKEN, then the `postern login` file.
 * The stored token is used only with the edge it was issued by, never sent to another one.
 */
export function resolveCredentials(options: ClientOptions, env: NodeJS.ProcessEnv = process.env): Credentials {
  const stored = readLogin(env);
  const given = chooseEdge(options.edge, env, stored?.edge);
  if (!given) throw new CliError('not logged in: run "postern login --edge URL", or pass --edge URL (or set POSTERN_EDGE) with a token');
  const edgeUrl = parseEdgeUrl(given.value, given.source);
  const token =
    (options.tokenFile ? readTokenFile(options.tokenFile) : undefined) ??
    env.POSTERN_TOKEN ??
    (stored && parseEdgeUrl(stored.edge, 'the stored login') === edgeUrl ? stored.token : undefined);
  if (!token) {
    throw new CliError(`no token for ${edgeUrl}: run "postern login --edge ${edgeUrl}", or pass --token-file FILE / set POSTERN_TOKEN`);
  }
  return { edgeUrl, token };
}
