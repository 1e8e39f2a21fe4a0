import { createHash } from 'node:crypto';
import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { withTimeout } from './wait.js';

export interface OutcomeRequest {
  readonly port: number;
  /** The Host header. */
  readonly host: string;
  readonly method?: string;
  readonly path: string;
  readonly headers?: OutgoingHttpHeaders;
  readonly body?: Buffer;
  /** A keep-alive agent, to send several requests on one connection; default: a fresh connection. */
  readonly agent?: http.Agent;
  /** Bodies up to this size are kept in `body` (default 64 KiB); larger ones are only hashed. */
  readonly keepBodyUpTo?: number;
  readonly timeoutMs?: number;
}

/** What a client saw, complete or not: a cut answer is an outcome to assert on, not an exception. */
export interface Outcome {
  /** 0 when no answer arrived at all. */
  readonly status: number;
  readonly statusMessage: string;
  readonly headers: IncomingHttpHeaders;
  readonly length: number;
  readonly sha256: string;
  /** Kept when `length` ≤ keepBodyUpTo. */
  readonly body: Buffer | undefined;
  /** The framing said the answer was whole (Node's `res.complete`), and no error came. */
  readonly complete: boolean;
  /** The first error on the request or the response, if any. */
  readonly error: string | undefined;
  readonly ms: number;
}

/**
 * One request and whatever came back. Resolves once the exchange is over (answered, cut or
 * refused); rejects only when nothing happened within `timeoutMs` (default 30 s): a hang.
 */
export function fetchOutcome(options: OutcomeRequest): Promise<Outcome> {
  const started = performance.now();
  const keepUpTo = options.keepBodyUpTo ?? 64 * 1024;
  let req: http.ClientRequest | undefined;
  const done = new Promise<Outcome>((resolve) => {
    let error: string | undefined;
    let settled = false;
    let responded = false;
    const settle = (outcome: Omit<Outcome, 'ms' | 'error'>): void => {
      if (settled) return;
      settled = true;
      resolve({ ...outcome, error, ms: performance.now() - started });
    };
    req = http.request({
      host: '127.0.0.1',
      port: options.port,
      method: options.method ?? 'GET',
      path: options.path,
      headers: { host: options.host, ...options.headers },
      agent: options.agent ?? false,
    });
    req.on('error', (err) => {
      error ??= `${(err as NodeJS.ErrnoException).code ?? ''} ${err.message}`.trim();
      // After a response started, its own 'close' settles the outcome.
      if (!responded) settle({ status: 0, statusMessage: '', headers: {}, length: 0, sha256: '', body: undefined, complete: false });
    });
    req.on('response', (res) => {
      responded = true;
      const hash = createHash('sha256');
      const kept: Buffer[] = [];
      let length = 0;
      res.on('data', (chunk: Buffer) => {
        hash.update(chunk);
        length += chunk.length;
        if (length <= keepUpTo) kept.push(chunk);
      });
      res.on('error', (err) => (error ??= err.message));
      res.on('close', () =>
        settle({
          status: res.statusCode ?? 0,
          statusMessage: res.statusMessage ?? '',
          headers: res.headers,
          length,
          sha256: hash.digest('hex'),
          body: length <= keepUpTo ? Buffer.concat(kept) : undefined,
          complete: res.complete && error === undefined,
        }),
      );
    });
    req.end(options.body);
  });
  const ms = options.timeoutMs ?? 30_000;
  return withTimeout(done, ms, `${options.method ?? 'GET'} ${options.host}${options.path} (an answer, complete or cut)`).catch((err: unknown) => {
    req?.destroy();
    throw err;
  });
}
