import http, { type IncomingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { closer, listenLocal } from './local-server.js';

export interface AppRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly rawHeaders: readonly string[];
  readonly upgrade: boolean;
}

/**
 * The app behind a connector in the identity tests, in the test process so tests see exactly what
 * reached it (every request and its headers).
 *
 *   GET /               a small HTML page naming the app and the X-Auth-Email it received
 *   GET /headers        the request headers as JSON ({headers, rawHeaders})
 *   GET /set-cookies    answers with Set-Cookie lines for the edge's reserved names and one of its own
 *   WS  /ws             echo
 *   anything else       200 text naming the path
 */
export class IdentityApp {
  readonly requests: AppRequest[] = [];
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });

  private constructor(
    readonly label: string,
    readonly server: http.Server,
    readonly port: number,
  ) {
    this.close = closer(server, this.wss);
  }

  static async start(label: string): Promise<IdentityApp> {
    const server = http.createServer();
    const port = await listenLocal(server);
    const app = new IdentityApp(label, server, port);
    app.attach();
    return app;
  }

  /** Requests whose path starts with `prefix`. */
  requestsTo(prefix: string): AppRequest[] {
    return this.requests.filter((r) => r.url.startsWith(prefix));
  }

  /** The last request (throws when none arrived). */
  last(prefix = '/'): AppRequest {
    const all = this.requestsTo(prefix);
    const last = all[all.length - 1];
    if (!last) throw new Error(`${this.label}: no request to ${prefix} reached the app`);
    return last;
  }

  /** Closes the app, cutting connections the edge still holds. */
  readonly close: () => Promise<void>;

  private attach(): void {
    this.server.on('request', (req, res) => {
      this.record(req, false);
      const path = new URL(req.url ?? '/', 'http://app').pathname;
      if (path === '/') {
        const email = String(req.headers['x-auth-email'] ?? '(none)');
        const body = `<!doctype html><html><head><title>${this.label}</title></head><body><h1>${this.label}</h1><p id="who">X-Auth-Email: ${escapeHtml(email)}</p></body></html>`;
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
        res.end(body);
      } else if (path === '/headers') {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(JSON.stringify({ headers: req.headers, rawHeaders: req.rawHeaders }));
      } else if (path === '/set-cookies') {
        res.writeHead(200, {
          'content-type': 'text/plain',
          'set-cookie': [
            'postern_session=planted-by-app; Path=/; HttpOnly',
            'Postern_Login=planted-by-app; Path=/',
            'postern_tx=planted-by-app; Path=/',
            '__Host-postern_session=planted-by-app; Path=/; Secure',
            'app_pref=dark; Path=/',
          ],
        });
        res.end('cookies set');
      } else {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end(`${this.label}: ${path}`);
      }
    });
    this.server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
      this.record(req, true);
      if (new URL(req.url ?? '/', 'http://app').pathname !== '/ws') {
        socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
        return;
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
      });
    });
  }

  private record(req: http.IncomingMessage, upgrade: boolean): void {
    this.requests.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, rawHeaders: req.rawHeaders, upgrade });
  }
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
