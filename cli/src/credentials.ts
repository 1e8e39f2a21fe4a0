import { readFileSync } from 'node:fs';
import { isTrustedPeer } from '@postern/connector';
import { readLogin } from './credential-store.js';
import { CliError } from './errors.js';

export interface ClientOptions {
  /** `--edge`, once per edge (see edgeOption). */
  readonly edge?: readonly string[];
  readonly tokenFile?: string;
}

export interface Credentials {
  /** Edges of one cluster, in the order given (origins, no duplicates); at least one. */
  readonly edgeUrls: readonly string[];
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

/** Collects a repeated `--edge` (commander's option argument parser). */
export const collectEdge = (value: string, previous: readonly string[] = []): string[] => [...previous, value];

/** The edges to use, by precedence: the flags, then POSTERN_EDGE (a comma-separated list), then the stored login's. */
export function chooseEdges(flags: readonly string[] | undefined, env: NodeJS.ProcessEnv, stored: string | undefined): { values: string[]; source: EdgeSource } | undefined {
  if (flags && flags.length > 0) return { values: [...flags], source: '--edge' };
  if (env.POSTERN_EDGE) return { values: env.POSTERN_EDGE.split(',').map((value) => value.trim()), source: 'POSTERN_EDGE' };
  return stored ? { values: [stored], source: 'the stored login' } : undefined;
}

/** Validates every edge URL (an error names the bad one) and returns their origins, first occurrence kept. */
export function parseEdgeUrls(values: readonly string[], source: EdgeSource): string[] {
  const origins = values.map((value) => {
    if (value === '') throw new CliError(`${source} has an empty entry: list edge URLs separated by single commas`);
    if (source === '--edge' && value.includes(',')) throw new CliError(`--edge takes one URL, not "${value}": repeat --edge for each edge (or set POSTERN_EDGE=URL1,URL2)`);
    return parseEdgeUrl(value, source);
  });
  return [...new Set(origins)];
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
 * Edge URLs and token: flags win, then POSTERN_EDGE / POSTERN_TOKEN, then the `postern login` file.
 * The stored token is used only with the edge it was issued by and edges of its cluster (the same
 * domain or loopback, the rule connectors apply to the peers edges announce), never sent elsewhere.
 */
export function resolveCredentials(options: ClientOptions, env: NodeJS.ProcessEnv = process.env): Credentials {
  const stored = readLogin(env);
  const given = chooseEdges(options.edge, env, stored?.edge);
  if (!given) throw new CliError('not logged in: run "postern login --edge URL", or pass --edge URL (or set POSTERN_EDGE) with a token');
  const edgeUrls = parseEdgeUrls(given.values, given.source);
  const token = (options.tokenFile ? readTokenFile(options.tokenFile) : undefined) ?? env.POSTERN_TOKEN ?? storedToken(edgeUrls, stored);
  if (!token) {
    const issuer = stored ? parseEdgeUrl(stored.edge, 'the stored login') : undefined;
    const edge = edgeUrls.find((url) => url !== issuer) ?? edgeUrls[0]!;
    throw new CliError(`no token for ${edge}: run "postern login --edge ${edge}", or pass --token-file FILE / set POSTERN_TOKEN`);
  }
  return { edgeUrls, token };
}

/** The stored login's token when its edge is one of `edgeUrls` and the others are of its cluster. */
function storedToken(edgeUrls: readonly string[], stored: { readonly edge: string; readonly token: string } | undefined): string | undefined {
  if (!stored) return undefined;
  const issuer = parseEdgeUrl(stored.edge, 'the stored login');
  const ofItsCluster = edgeUrls.includes(issuer) && edgeUrls.every((url) => url === issuer || isTrustedPeer([issuer], url));
  return ofItsCluster ? stored.token : undefined;
}
