import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { closer, listenLocal } from './local-server.js';

export interface ScriptedResponse {
  readonly status?: number;
  readonly headers?: OutgoingHttpHeaders;
  readonly body?: string;
  /** Bytes written on the connection as they are, instead of an answer Node would frame (odd servers). */
  readonly raw?: Buffer;
}

/**
 * The app of a hostile socket: each path answers with what the test scripted (headers, cookies, a
 * page with a script), and WebSocket upgrades are accepted with scripted extra 101 headers. Every
 * request it receives is kept. Unscripted paths answer 404.
 */
export class ScriptedApp {
  readonly requests: { url: string; headers: IncomingHttpHeaders }[] = [];
  private readonly routes = new Map<string, ScriptedResponse>();
  /** Extra raw header lines for the 101 answer of an upgrade (e.g. `Set-Cookie: …`). */
  upgradeHeaders: string[] = [];
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });

  private constructor(
    readonly server: http.Server,
    readonly port: number,
  ) {
    this.close = closer(server, this.wss);
  }

  static async start(): Promise<ScriptedApp> {
    const server = http.createServer();
    const app = new ScriptedApp(server, await listenLocal(server));
    app.attach();
    return app;
  }

  readonly close: () => Promise<void>;

  /** Scripts the answer for `path` (the pathname, query ignored). */
  script(path: string, response: ScriptedResponse): void {
    this.routes.set(path, response);
  }

  private attach(): void {
    this.wss.on('headers', (headers) => headers.push(...this.upgradeHeaders));
    this.server.on('request', (req, res) => {
      this.requests.push({ url: req.url ?? '', headers: req.headers });
      const scripted = this.routes.get(new URL(req.url ?? '/', 'http://app').pathname);
      if (scripted?.raw) {
        req.socket.end(scripted.raw);
        return;
      }
      res.writeHead(scripted?.status ?? (scripted ? 200 : 404), { 'content-type': 'text/html; charset=utf-8', ...scripted?.headers });
      res.end(scripted?.body ?? 'not scripted');
    });
    this.server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
      this.requests.push({ url: req.url ?? '', headers: req.headers });
      this.wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (data) => ws.send(data)));
    });
  }
}
