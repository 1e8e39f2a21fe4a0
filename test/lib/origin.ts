import { createHash } from 'node:crypto';
import http, { type IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { closer, listenLocal } from './local-server.js';
import { patternChunks } from './pattern.js';

export interface SeenRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
}

export interface UploadRecord {
  readonly sha256: string;
  readonly length: number;
}

/**
 * The local app behind the connector, in the test process so tests can see what it received.
 *
 *   GET  /hello              "hello from origin"
 *   GET  /bytes?n=N          N deterministic bytes (see pattern.ts), streamed with backpressure;
 *                            with &chunked=1 without a Content-Length (chunked encoding)
 *   POST /sha256?wait=N      streams the body (after N ms without reading), answers {"sha256","length"}
 *   POST /echo               answers 200 at once, then streams the body back
 *   GET  /headers            the request headers as JSON ({headers, rawHeaders})
 *   GET  /sse?n=5&gap=200    n Server-Sent Events, gap ms apart
 *   GET  /slow?ms=N          answers after N ms
 *   GET  /status/502         its own 502 (no postern-error header)
 *   POST /stall              accepts the request, then neither reads its body nor answers (until
 *                            resumeStalled(), which reads and drops the body, still never answering)
 *   GET  /hsts               "own policy", with its own Strict-Transport-Security header
 *   WS   /ws                 echo (text and binary)
 */
export class Origin {
  readonly requests: SeenRequest[] = [];
  readonly uploads: UploadRecord[] = [];
  /** URLs of requests whose connection closed before the app finished answering. */
  readonly abandoned: string[] = [];
  /** performance.now() at which each event of the latest /sse response was written. */
  sseSentAt: number[] = [];
  /** Resolvers waiting for a request to a path prefix to start. */
  private readonly arrivals: { prefix: string; resolve: () => void }[] = [];
  /** Requests to POST /stall, not read. */
  private readonly stalled = new Set<http.IncomingMessage>();
  /** Resolvers waiting for the response to a request to a path prefix to close. */
  private readonly departures: { prefix: string; resolve: () => void }[] = [];
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: 8 * 1024 * 1024 });

  private constructor(
    readonly server: http.Server,
    readonly port: number,
  ) {
    this.close = closer(server, this.wss);
  }

  static async start(): Promise<Origin> {
    const server = http.createServer();
    const port = await listenLocal(server);
    const origin = new Origin(server, port);
    origin.attach();
    return origin;
  }

  /** Resolves when a request whose URL starts with `prefix` reaches the app. */
  arrival(prefix: string): Promise<void> {
    return new Promise((resolve) => this.arrivals.push({ prefix, resolve }));
  }

  /**
   * Resolves when the response to a request whose URL starts with `prefix` closes: it was sent in
   * full, or its connection was cut (the connector let go). Call it before that request is sent.
   */
  departure(prefix: string): Promise<void> {
    return new Promise((resolve) => this.departures.push({ prefix, resolve }));
  }

  /**
   * Starts reading (and dropping) the bodies of stalled requests. A paused socket does not notice
   * its peer closing; once read, one the connector has closed ends, and its response closes.
   */
  resumeStalled(): void {
    for (const req of this.stalled) req.resume();
    this.stalled.clear();
  }

  requestsTo(prefix: string): SeenRequest[] {
    return this.requests.filter((r) => r.url.startsWith(prefix));
  }

  /** Closes the app, cutting connections the edge still holds. */
  readonly close: () => Promise<void>;

  private attach(): void {
    this.server.on('request', (req, res) => {
      this.record(req);
      res.once('close', () => {
        if (!res.writableFinished) this.abandoned.push(req.url ?? '');
        this.depart(req.url ?? '');
      });
      this.handle(req, res).catch((err: Error) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`origin failure: ${err.message}`);
      });
    });
    this.server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
      this.record(req);
      if (new URL(req.url ?? '/', 'http://origin').pathname !== '/ws') {
        socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
      });
    });
  }

  private record(req: http.IncomingMessage): void {
    this.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders });
    const url = req.url ?? '';
    for (let i = this.arrivals.length - 1; i >= 0; i--) {
      const waiter = this.arrivals[i]!;
      if (url.startsWith(waiter.prefix)) {
        this.arrivals.splice(i, 1);
        waiter.resolve();
      }
    }
  }

  private depart(url: string): void {
    for (let i = this.departures.length - 1; i >= 0; i--) {
      const waiter = this.departures[i]!;
      if (url.startsWith(waiter.prefix)) {
        this.departures.splice(i, 1);
        waiter.resolve();
      }
    }
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://origin');
    const int = (name: string, fallback: number) => {
      const value = Number(url.searchParams.get(name) ?? fallback);
      return Number.isFinite(value) && value >= 0 ? value : fallback;
    };
    switch (`${req.method} ${url.pathname}`) {
      case 'GET /hello':
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('hello from origin');
        return;
      case 'GET /bytes': {
        const n = int('n', 0);
        const length = url.searchParams.get('chunked') === '1' ? {} : { 'content-length': String(n) };
        res.writeHead(200, { 'content-type': 'application/octet-stream', ...length });
        for (const chunk of patternChunks(n)) {
          if (res.destroyed) return;
          if (!res.write(chunk)) await once(res, 'drain', 'close');
        }
        res.end();
        return;
      }
      case 'POST /sha256': {
        await new Promise((resolve) => setTimeout(resolve, int('wait', 0)));
        const hash = createHash('sha256');
        let length = 0;
        for await (const chunk of req) {
          hash.update(chunk as Buffer);
          length += (chunk as Buffer).length;
        }
        const record = { sha256: hash.digest('hex'), length };
        this.uploads.push(record);
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify(record));
        return;
      }
      case 'POST /echo':
        res.writeHead(200, { 'content-type': 'application/octet-stream' });
        res.flushHeaders();
        req.pipe(res);
        return;
      case 'GET /headers':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ headers: req.headers, rawHeaders: req.rawHeaders }));
        return;
      case 'GET /sse': {
        const n = int('n', 5);
        const gap = int('gap', 200);
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.flushHeaders();
        const sentAt: number[] = (this.sseSentAt = []);
        for (let i = 0; i < n; i++) {
          if (i > 0) await new Promise((resolve) => setTimeout(resolve, gap));
          if (res.destroyed) return;
          sentAt.push(performance.now());
          res.write(`id: ${i}\ndata: event ${i}\n\n`);
        }
        res.end();
        return;
      }
      case 'GET /slow': {
        const ms = int('ms', 1000);
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, ms);
          res.once('close', () => {
            clearTimeout(timer); // the client is gone: nothing to wait for
            resolve();
          });
        });
        if (res.destroyed) return;
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`slept ${ms} ms`);
        return;
      }
      case 'POST /stall':
        req.pause(); // TCP fills up behind it: the sender can only wait
        this.stalled.add(req);
        return;
      case 'GET /hsts':
        res.writeHead(200, { 'content-type': 'text/plain', 'strict-transport-security': 'max-age=5; includeSubDomains; preload' });
        res.end('own policy');
        return;
      case 'GET /status/502':
        res.writeHead(502, { 'content-type': 'text/plain' });
        res.end('the origin itself says 502');
        return;
      default:
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('origin: no such path');
    }
  }
}

/** Resolves on the first of `events`, removing its listeners (a long loop must not pile them up). */
function once(emitter: NodeJS.EventEmitter, ...events: string[]): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      for (const event of events) emitter.off(event, done);
      resolve();
    };
    for (const event of events) emitter.on(event, done);
  });
}
