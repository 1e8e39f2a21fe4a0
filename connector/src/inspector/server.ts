import { randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { CapturedExchange, ExchangeLog } from './exchange-log.js';
import { INSPECTOR_CSS, INSPECTOR_JS, inspectorPage } from './page.js';
import { detail, message, replayRefusal, summarise, type ExchangeSummary } from './present.js';
import { replay } from './replay.js';

export interface InspectorServerOptions {
  readonly log: ExchangeLog;
  /** Bytes of a replay's answer kept. */
  readonly bodyLimit: number;
  /** Shown in the page's title (the socket's name, or the config file's). */
  readonly title: string;
}

/** Header carrying the page's token on every API call (the live updates, which cannot set headers, carry it in the query). */
export const TOKEN_HEADER = 'x-inspector-token';

/** Every answer: nothing inline runs, nothing loads from elsewhere, no framing, no sniffing, no caching. */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
  'cache-control': 'no-store',
} as const;

/** How often an idle live-update stream gets a comment line (keeps proxies and the browser from timing it out). */
const SSE_HEARTBEAT_MS = 15_000;

/** `host` as it appears in an authority (IPv6 in brackets). */
const authorityHost = (host: string): string => (host.includes(':') ? `[${host}]` : host);

/**
 * The inspector's local web server: the page, its script and style, and a small JSON API (list,
 * one exchange, live updates as server-sent events, replay). It listens on loopback only, and since
 * any page in a browser on this machine can reach loopback: every request must name this server in
 * its Host (a DNS-rebinding page names its own), every API call must carry the token written into
 * the page (which another origin cannot read), and a replay must come from the page's own Origin.
 */
export class InspectorServer {
  readonly token = randomBytes(32).toString('base64url');
  private readonly server: Server;
  private readonly streams = new Set<ServerResponse>();
  private authorities: ReadonlySet<string> = new Set();

  private constructor(private readonly options: InspectorServerOptions) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => this.send(res, 500, { error: (err as Error).message }));
    });
  }

  static async listen(host: string, port: number, options: InspectorServerOptions): Promise<InspectorServer> {
    const inspector = new InspectorServer(options);
    await new Promise<void>((resolve, reject) => {
      inspector.server.once('error', reject);
      inspector.server.listen(port, host, () => {
        inspector.server.off('error', reject);
        resolve();
      });
    });
    const bound = (inspector.server.address() as AddressInfo).port;
    inspector.authorities = new Set([`${authorityHost(host)}:${bound}`, `localhost:${bound}`, `127.0.0.1:${bound}`, `[::1]:${bound}`]);
    return inspector;
  }

  /** The page's address. */
  get url(): string {
    const { address, port } = this.server.address() as AddressInfo;
    return `http://${authorityHost(address)}:${port}/`;
  }

  async close(): Promise<void> {
    for (const res of this.streams) res.end();
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeAllConnections();
    await closed;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!this.authorities.has(req.headers.host ?? '')) return this.send(res, 421, { error: 'this inspector answers only to its own loopback address' });
    const url = new URL(req.url ?? '/', 'http://inspector');
    const method = req.method ?? 'GET';
    if (method === 'GET' && url.pathname === '/') return this.sendText(res, 'text/html; charset=utf-8', inspectorPage(this.options.title, this.token));
    if (method === 'GET' && url.pathname === '/inspector.js') return this.sendText(res, 'text/javascript; charset=utf-8', INSPECTOR_JS);
    if (method === 'GET' && url.pathname === '/inspector.css') return this.sendText(res, 'text/css; charset=utf-8', INSPECTOR_CSS);
    if (!url.pathname.startsWith('/api/')) return this.send(res, 404, { error: 'not found' });
    const token = url.pathname === '/api/events' ? url.searchParams.get('token') : req.headers[TOKEN_HEADER];
    if (typeof token !== 'string' || !this.tokenMatches(token)) return this.send(res, 403, { error: 'missing or wrong inspector token (reload the page)' });
    if (method === 'GET' && url.pathname === '/api/events') return this.liveUpdates(res);
    if (method === 'GET' && url.pathname === '/api/exchanges') return this.send(res, 200, { exchanges: this.options.log.list().map(summarise) });
    const one = /^\/api\/exchanges\/(\d{1,15})(\/replay)?$/.exec(url.pathname);
    const x = one ? this.options.log.get(Number(one[1])) : undefined;
    if (!one) return this.send(res, 404, { error: 'not found' });
    if (!x) return this.send(res, 404, { error: 'this exchange is no longer kept (the inspector keeps the last ones only)' });
    if (method === 'GET' && !one[2]) return this.send(res, 200, detail(x));
    if (method === 'POST' && one[2]) return this.replay(req, res, x);
    return this.send(res, 405, { error: `${method} is not allowed here` });
  }

  private async replay(req: IncomingMessage, res: ServerResponse, x: CapturedExchange): Promise<void> {
    // A page of another origin that got hold of a token still cannot make the app act: the browser names it in Origin.
    if (req.headers.origin !== `http://${req.headers.host}` || (req.headers['sec-fetch-site'] ?? 'same-origin') !== 'same-origin') {
      return this.send(res, 403, { error: 'a replay must come from the inspector page itself' });
    }
    req.resume();
    const refused = replayRefusal(x);
    if (refused) return this.send(res, 409, { error: `this exchange cannot be replayed: ${refused}` });
    try {
      const answer = await replay(x, this.options.bodyLimit);
      this.send(res, 200, { status: answer.status, duration_ms: Math.round(answer.durationMs * 10) / 10, response: message(answer.headers, answer.body, x.socket.mask) });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      this.send(res, 502, { error: `the app did not answer the replay: ${code && !(err as Error).message.includes(code) ? `${code}: ` : ''}${(err as Error).message}` });
    }
  }

  /** Server-sent events: one `exchange` event per finished exchange; those of one turn go out in one write. */
  private liveUpdates(res: ServerResponse): void {
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8' });
    res.write(': live\n\n');
    let pending: ExchangeSummary[] = [];
    const flush = (): void => {
      res.write(pending.map((s) => `event: exchange\ndata: ${JSON.stringify(s)}\n\n`).join(''));
      pending = [];
    };
    const unwatch = this.options.log.watch((x) => {
      if (pending.length === 0) setImmediate(flush);
      pending.push(summarise(x));
    });
    const heartbeat = setInterval(() => res.write(': still here\n\n'), SSE_HEARTBEAT_MS);
    heartbeat.unref();
    this.streams.add(res);
    res.once('close', () => {
      unwatch();
      clearInterval(heartbeat);
      this.streams.delete(res);
    });
  }

  private tokenMatches(token: string): boolean {
    const given = Buffer.from(token);
    const expected = Buffer.from(this.token);
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private sendText(res: ServerResponse, type: string, text: string): void {
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': type });
    res.end(text);
  }

  private send(res: ServerResponse, status: number, body: unknown): void {
    if (res.headersSent) return void res.destroy();
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8' });
    res.end(JSON.stringify(body));
  }
}
