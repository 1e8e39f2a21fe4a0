import type { FastifyRequest, FastifyServerOptions } from 'fastify';
import type { EdgeConfig } from '../config.js';
import { clientAddress } from '../net/client-address.js';
import { TOKEN_PREFIX } from '../store/tokens.js';
import { clientRequestId } from './request-id.js';

/** Longest path put in a log line or a request event. */
const MAX_LOGGED_PATH = 512;

/**
 * The path of a request target without its query string: query strings carry OAuth codes and
 * states, one-time sign-in codes and device codes, so no log line ever holds one.
 */
export function loggedPath(url: string): string {
  const query = url.indexOf('?');
  const path = query === -1 ? url : url.slice(0, query);
  return path.length <= MAX_LOGGED_PATH ? path : `${path.slice(0, MAX_LOGGED_PATH - 1)}…`;
}

const POSTERN_TOKEN = new RegExp(`${TOKEN_PREFIX}[A-Za-z0-9_-]+`, 'g');

/** A Postern token anywhere in a finished log line (a misplaced header, an error message) is masked. */
export function redactTokens(line: string): string {
  return line.includes(TOKEN_PREFIX) ? line.replace(POSTERN_TOKEN, `${TOKEN_PREFIX}[redacted]`) : line;
}

/** Log levels at which the per-request access line is written (it is at info). */
export const accessLogEnabled = (level: EdgeConfig['logLevel']): boolean => level === 'info' || level === 'debug' || level === 'trace';

/**
 * The edge's pino options (through Fastify). Requests are logged as method, path without query,
 * host and address; header objects that reach a log call lose their credentials; the last step
 * masks Postern tokens in whatever was written. pino's JSON escapes control characters.
 */
export function edgeLoggerOptions(level: EdgeConfig['logLevel']): Exclude<FastifyServerOptions['logger'], boolean | undefined> {
  return {
    level,
    redact: {
      paths: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]', 'headers.authorization', 'headers.cookie', 'headers["set-cookie"]'],
      censor: '[redacted]',
    },
    serializers: {
      req: (request: FastifyRequest) => {
        const clientId = clientRequestId(request.raw);
        return {
          method: request.method,
          path: loggedPath(request.url),
          host: request.host,
          remoteAddress: clientAddress(request.raw),
          ...(clientId ? { clientRequestId: clientId } : {}),
        };
      },
    },
    hooks: { streamWrite: redactTokens },
  };
}
