import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { withTimeout } from './wait.js';

/**
 * What a redirect may point at: the edge's own origin and the exact origins of known sockets.
 * Anything else (another host, port or scheme, userinfo, a script URL) is an open redirect.
 */
export interface OwnNames {
  readonly edgeOrigin: string;
  readonly socketOrigins: ReadonlySet<string>;
}

export const isOwnOrigin = (own: OwnNames, origin: string): boolean => origin === own.edgeOrigin || own.socketOrigins.has(origin);

/** Raw characters a browser strips, folds into `/` or stops at: our Locations never carry them. */
const UNSAFE_RAW = /[\u0000-\u0020\u007f-\u009f\\\u00a0\u2028\u2029\u3000\ufeff]/;

/**
 * Why `location` (answered to a request for `requestUrl`) is not one of our names, or null when it
 * is. Resolution is WHATWG URL's, as a browser does it; the raw value is held to the stricter rule
 * that it never relies on a browser's cleanup.
 */
export function locationProblem(location: string, requestUrl: string, own: OwnNames): string | null {
  if (UNSAFE_RAW.test(location)) return `raw Location carries a backslash, space or control character: ${JSON.stringify(location)}`;
  let to: URL;
  try {
    to = new URL(location, requestUrl);
  } catch {
    return `Location does not parse: ${JSON.stringify(location)}`;
  }
  if (to.protocol !== 'http:' && to.protocol !== 'https:') return `Location has scheme ${to.protocol}`;
  if (to.username || to.password) return `Location carries userinfo: ${to.href}`;
  if (!isOwnOrigin(own, to.origin)) return `Location leaves our names: ${to.href}`;
  return null;
}

/** Every href / action / src / formaction of an HTML page, and any meta refresh target. */
export function pageLinks(html: string): string[] {
  const decode = (s: string) => s.replace(/&#(\d+);/g, (_m, d: string) => String.fromCodePoint(Number(d))).replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');
  const links: string[] = [];
  for (const m of html.matchAll(/\b(?:href|action|src|formaction)\s*=\s*"([^"]*)"/gi)) links.push(decode(m[1]!));
  for (const m of html.matchAll(/http-equiv\s*=\s*"refresh"[^>]*content\s*=\s*"[^"]*url=([^"]*)"/gi)) links.push(decode(m[1]!));
  return links;
}

/** Problems of the links of an edge page (same rules as a Location). */
export function linkProblems(html: string, pageUrl: string, own: OwnNames): string[] {
  return pageLinks(html)
    .map((link) => locationProblem(link, pageUrl, own))
    .filter((p): p is string => p !== null)
    .map((p) => `page link: ${p}`);
}

export interface RequestInit {
  readonly method?: string;
  /** A request target sent verbatim instead of the URL's normalised path. */
  readonly path?: string;
  readonly headers?: OutgoingHttpHeaders;
  readonly body?: string;
}

export interface ProbeResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/**
 * Plain HTTP over keep-alive connections to 127.0.0.1:PORT, the URL's authority as Host (this
 * machine's resolver does not know `*.localhost`). For thousands of small requests.
 */
export class KeepAliveClient {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

  async request(url: string | URL, init: RequestInit = {}, timeoutMs = 10_000): Promise<ProbeResponse> {
    try {
      return await this.once(url, init, timeoutMs);
    } catch (err) {
      // A kept-alive connection the server closed just as it was reused: the request never reached it.
      if ((err as { reused?: boolean }).reused) return this.once(url, init, timeoutMs);
      throw err;
    }
  }

  private once(url: string | URL, init: RequestInit, timeoutMs: number): Promise<ProbeResponse> {
    const u = new URL(url);
    let req: http.ClientRequest | undefined;
    const done = new Promise<ProbeResponse>((resolve, reject) => {
      const headers: OutgoingHttpHeaders = { host: u.host, ...init.headers };
      if (init.body !== undefined) headers['content-length'] = Buffer.byteLength(init.body);
      req = http.request({ host: '127.0.0.1', port: Number(u.port || 80), method: init.method ?? 'GET', path: init.path ?? u.pathname + u.search, headers, agent: this.agent });
      req.on('response', (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
        res.on('error', reject);
      });
      req.on('error', (err) => reject(Object.assign(err, { reused: req?.reusedSocket === true && (err as NodeJS.ErrnoException).code === 'ECONNRESET' })));
      req.end(init.body);
    });
    return withTimeout(done, timeoutMs, `${init.method ?? 'GET'} ${u.href}`).catch((err: unknown) => {
      req?.destroy();
      throw err;
    });
  }

  close(): void {
    this.agent.destroy();
  }
}

/** Runs `work` over `items` with at most `concurrency` in flight; resolves when all settled. */
export async function inPool<T>(items: readonly T[], concurrency: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, items.length) }, worker));
}
