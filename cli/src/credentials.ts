import { readFileSync } from 'node:fs';
import { CliError } from './errors.js';

export interface ClientOptions {
  readonly edge?: string;
  readonly tokenFile?: string;
}

export interface Credentials {
  readonly edgeUrl: string;
  readonly token: string;
}

/** Edge URL and token from flags or POSTERN_EDGE / POSTERN_TOKEN (flags win). Tokens never come from argv. */
export function resolveCredentials(options: ClientOptions, env: NodeJS.ProcessEnv = process.env): Credentials {
  const edgeUrl = options.edge ?? env.POSTERN_EDGE;
  if (!edgeUrl) throw new CliError('no edge given: pass --edge URL or set POSTERN_EDGE');
  let parsed: URL;
  try {
    parsed = new URL(edgeUrl);
  } catch {
    throw new CliError(`--edge must be a URL such as http://localhost:8080, not "${edgeUrl}"`);
  }
  if (!['http:', 'https:'].includes(parsed.protocol)) throw new CliError(`--edge must start with http:// or https://, not "${edgeUrl}"`);
  let token = env.POSTERN_TOKEN;
  if (options.tokenFile) {
    try {
      token = readFileSync(options.tokenFile, 'utf8').trim();
    } catch (err) {
      throw new CliError(`cannot read --token-file ${options.tokenFile}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  }
  if (!token) throw new CliError('no token given: pass --token-file FILE or set POSTERN_TOKEN (create one with "postern admin token create EMAIL")');
  return { edgeUrl: parsed.origin, token };
}
