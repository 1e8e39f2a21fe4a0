/**
 * The "Node floor": the least a Node reverse proxy in today's edge design can cost per request — a
 * bare node:http server whose requests go to the origin through an undici Pool, answers streamed
 * back through a dispatch handler as the edge does, with backpressure. No mux, no sign-in, no
 * header policy, no logs. `node node-floor.js ORIGIN_PORT` prints `{"event":"listening","port":N}`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { Pool, type Dispatcher } from 'undici';

const originPort = Number(process.argv[2]);
const pool = new Pool(`http://127.0.0.1:${originPort}`, { connections: 256, pipelining: 1, keepAliveTimeout: 120_000 });
const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'upgrade', 'te', 'trailer', 'proxy-connection']);

class Relay implements Dispatcher.DispatchHandler {
  constructor(private readonly res: ServerResponse) {}

  /** Present so undici takes this for a handler of its current API. */
  onRequestStart(): void {}

  onResponseStart(_c: Dispatcher.DispatchController, status: number, headers: Record<string, string | string[]>, message?: string): void {
    const out: Record<string, string | string[]> = {};
    for (const [name, value] of Object.entries(headers)) if (!HOP_BY_HOP.has(name)) out[name] = value;
    this.res.writeHead(status, message ?? '', out);
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (!this.res.write(chunk)) {
      controller.pause();
      this.res.once('drain', () => controller.resume());
    }
  }

  onResponseEnd(): void {
    this.res.end();
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    if (this.res.headersSent) this.res.destroy(err);
    else this.res.writeHead(502).end();
  }
}

function proxy(req: IncomingMessage, res: ServerResponse): void {
  const headers: string[] = [];
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (!HOP_BY_HOP.has(req.rawHeaders[i]!.toLowerCase())) headers.push(req.rawHeaders[i]!, req.rawHeaders[i + 1]!);
  }
  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  pool.dispatch({ origin: `http://127.0.0.1:${originPort}`, method: req.method ?? 'GET', path: req.url ?? '/', headers, body: hasBody ? req : null }, new Relay(res));
}

const server = createServer({ keepAliveTimeout: 120_000 }, proxy);
server.listen(0, '127.0.0.1', () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ event: 'listening', port: typeof address === 'object' && address ? address.port : 0 })}\n`);
});
process.on('SIGTERM', () => process.exit(0));
