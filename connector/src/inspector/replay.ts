import { request } from 'undici';
import { fieldList } from '../forward-http.js';
import { BodyCapture, type CapturedBody } from './body.js';
import type { CapturedExchange } from './exchange-log.js';

export interface ReplayAnswer {
  readonly status: number;
  /** Field list, names lower-case. */
  readonly headers: string[];
  readonly body: CapturedBody;
  readonly durationMs: number;
}

/** A replay that takes longer than this (head and body) is given up. */
const REPLAY_TIMEOUT_MS = 30_000;

/**
 * Sends a captured request again, straight to the local app (not through the edge): the same
 * method, target, headers (identity headers and assertion included, as the app first received
 * them) and body. The answer's body is kept up to `bodyLimit` bytes; the rest is read and counted.
 */
export async function replay(x: CapturedExchange, bodyLimit: number): Promise<ReplayAnswer> {
  const target = x.socket.app;
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  const started = performance.now();
  const res = await request(`http://${host}:${target.port}${x.target}`, {
    method: x.method as 'GET',
    headers: x.requestHeaders as string[],
    body: x.requestBody.size > 0 ? x.requestBody.bytes : null,
    headersTimeout: REPLAY_TIMEOUT_MS,
    bodyTimeout: REPLAY_TIMEOUT_MS,
    signal: AbortSignal.timeout(REPLAY_TIMEOUT_MS),
  });
  const body = new BodyCapture(bodyLimit);
  for await (const chunk of res.body) body.add(chunk as Buffer);
  return { status: res.statusCode, headers: fieldList(res.headers), body: body.finish(), durationMs: performance.now() - started };
}
