import { fetch as undiciFetch } from 'undici';

/** One answer of an IdP's API: its status, and its body parsed as JSON (undefined when it is not JSON). */
export interface JsonAnswer {
  readonly status: number;
  readonly body: unknown;
}

export interface JsonRequest {
  readonly method: 'GET' | 'POST';
  readonly headers: Record<string, string>;
  readonly body?: string;
}

/** A JSON answer larger than this is refused (bound memory whatever the server sends). */
const MAX_RESPONSE_BYTES = 1024 * 1024;

/** The IdP did not answer (network, timeout, an answer too large to read). */
export class UnansweredError extends Error {
  override readonly name = 'UnansweredError';
}

/**
 * One request to an IdP's HTTP API (GitHub, Facebook, Google): redirects refused (a token must not
 * follow one elsewhere), time and answer size bounded.
 */
export async function requestJson(url: string, init: JsonRequest, options: { readonly fetch?: typeof undiciFetch; readonly timeoutMs: number }): Promise<JsonAnswer> {
  const doFetch = options.fetch ?? undiciFetch;
  let res: Awaited<ReturnType<typeof undiciFetch>>;
  try {
    res = await doFetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(options.timeoutMs) });
  } catch (err) {
    throw new UnansweredError('no answer', { cause: err });
  }
  let text: string;
  try {
    text = await readLimited(res.body, MAX_RESPONSE_BYTES);
  } catch (err) {
    throw new UnansweredError('unreadable answer', { cause: err });
  }
  let body: unknown;
  try {
    body = text ? (JSON.parse(text) as unknown) : undefined;
  } catch {
    body = undefined;
  }
  return { status: res.status, body };
}

/** An OAuth error code or API error type, safe to show; anything else is "an error". */
export function safeCode(value: unknown): string {
  return typeof value === 'string' && /^[a-z0-9_.-]{1,64}$/i.test(value) ? value : 'an error';
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

async function readLimited(body: ReadableStream<Uint8Array> | null, limit: number): Promise<string> {
  if (!body) return '';
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw new Error('response too large');
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
