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

/** Validates an edge URL and returns its origin. */
export function parseEdgeUrl(edgeUrl: string): string {
  let parsed: URL;
  try {
    parsed = new URL(edgeUrl);
  } catch {
    throw new CliError(`--edge must be a URL such as http://localhost:8080, not "${edgeUrl}"`);
  }
  if (!['http:', 'https:'].includes(parsed.protocol)) throw new CliError(`--edge must start with http:// or https://, not "${edgeUrl}"`);
  return parsed.origin;
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
  const edgeInput = options.edge ?? env.POSTERN_EDGE ?? stored?.edge;
  if (!edgeInput) throw new CliError('no edge given: run "postern login --edge URL", pass --edge URL or set POSTERN_EDGE');
  const edgeUrl = parseEdgeUrl(edgeInput);
  const token =
    (options.tokenFile ? readTokenFile(options.tokenFile) : undefined) ??
    env.POSTERN_TOKEN ??
    (stored && parseEdgeUrl(stored.edge) === edgeUrl ? stored.token : undefined);
  if (!token) {
    throw new CliError(`no token for ${edgeUrl}: run "postern login --edge ${edgeUrl}", or pass --token-file FILE / set POSTERN_TOKEN`);
  }
  return { edgeUrl, token };
}
