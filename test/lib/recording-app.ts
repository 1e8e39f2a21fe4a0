import http from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import { closer, listenLocal } from './local-server.js';

/**
 * An app that keeps the exact bytes the edge sent it, per connection, before any parser tidied
 * them up (trailers, duplicate and oddly spelled headers included). It answers every request with
 * `200 ok` after reading the body, and accepts WebSocket upgrades on any path.
 */
export class RecordingApp {
  private readonly connections: { text: string }[] = [];
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false });

  private constructor(
    readonly server: http.Server,
    readonly port: number,
  ) {
    this.close = closer(server, this.wss);
  }

  static async start(): Promise<RecordingApp> {
    const server = http.createServer();
    const app = new RecordingApp(server, await listenLocal(server));
    app.attach();
    return app;
  }

  readonly close: () => Promise<void>;

  /**
   * The raw bytes of the request whose target contains `marker` (its head, body and trailers, up to
   * the next request on that connection), as latin1; undefined when none arrived.
   */
  requestBytes(marker: string): string | undefined {
    for (const { text } of this.connections) {
      const start = text.indexOf(marker);
      if (start === -1) continue;
      // The request line is `METHOD <marker…>`: step back over the method.
      const method = /[A-Z]+ $/.exec(text.slice(Math.max(0, start - 16), start))?.[0] ?? '';
      const from = start - method.length;
      const next = text.slice(start).search(/\r\n\r\n(?=[A-Z]+ \/)/);
      return next === -1 ? text.slice(from) : text.slice(from, start + next + 4);
    }
    return undefined;
  }

  private attach(): void {
    this.server.on('connection', (socket: Socket) => {
      const record = { text: '' };
      this.connections.push(record);
      socket.on('data', (chunk: Buffer) => (record.text += chunk.toString('latin1')));
    });
    this.server.on('request', (req, res) => {
      req.resume();
      req.on('end', () => {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': '2' });
        res.end('ok');
      });
    });
    this.server.on('upgrade', (req: http.IncomingMessage, socket: Socket, head: Buffer) => {
      this.wss.handleUpgrade(req, socket, head, (ws) => ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary })));
    });
  }
}
