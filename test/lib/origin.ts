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
 *   GET  /bytes?n=N          N deterministic bytes (see pattern.ts), streamed with backpressure
 *   POST /sha256             streams the body, answers {"sha256","length"}
 *   GET  /headers            the request headers as JSON ({headers, rawHeaders})
 *   GET  /sse?n=5&gap=200    n Server-Sent Events, gap ms apart
 *   GET  /slow?ms=N          answers after N ms
 *   GET  /status/502         its own 502 (no postern-error header)
 *   GET  /hsts               "own policy", with its own Strict-Transport-Security header
 *   WS   /ws                 echo (text and binary)
 */
export class Origin {
  readonly requests: SeenRequest[] = [];
  readonly uploads: UploadRecord[] = [];
  /** performance.now() at which each event of the latest /sse response was written. */
  sseSentAt: number[] = [];
  /** Resolvers waiting for a request to a path prefix to start. */
  private readonly arrivals: { prefix: string; resolve: () => void }[] = [];
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

  requestsTo(prefix: string): SeenRequest[] {
    return this.requests.filter((r) => r.url.startsWith(prefix));
  }

  /** Closes the app, cutting connections the edge still holds. */
  readonly close: () => Promise<void>;

  private attach(): void {
    this.server.on('request', (req, res) => {
      this.record(req);
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
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(n) });
        for (const chunk of patternChunks(n)) {
          if (res.destroyed) return;
          if (!res.write(chunk)) await new Promise<void>((resolve) => {
            res.once('drain', resolve);
            res.once('close', resolve);
          });
        }
        res.end();
        return;
      }
      case 'POST /sha256': {
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
        await new Promise((resolve) => setTimeout(resolve, ms));
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`slept ${ms} ms`);
        return;
      }
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
