/**
 * The benchmark's origin app: a separate Node process so it never shares an event loop with the
 * load generator. Run as `node bench/dist/lib/origin.js [port]`; prints one JSON line
 * `{"event":"listening","port":N}` once it accepts connections.
 *
 *   GET  /             13-byte "hello, world\n"
 *   GET  /bytes?n=N    N bytes (Content-Length), written as fast as the reader takes them
 *   POST /sink[?rate=] consumes the body (at most `rate` bytes/s when given), answers {"bytes":N}
 *   GET  /stats        {"ws":open WebSockets,"sinkBytes":bytes consumed by /sink since start}
 *   WS   /ws           accepts and stays idle
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { WebSocketServer } from 'ws';

const HELLO = Buffer.from('hello, world\n');
const CHUNK = Buffer.alloc(64 * 1024, 0x61);

let wsOpen = 0;
let sinkBytes = 0;

function sendBytes(res: ServerResponse, n: number): void {
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(n) });
  let left = n;
  const pump = (): void => {
    while (left > 0) {
      const size = Math.min(left, CHUNK.length);
      left -= size;
      const ok = res.write(size === CHUNK.length ? CHUNK : CHUNK.subarray(0, size));
      if (!ok) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

/** Reads the body, at most `rate` bytes per second when rate > 0 (a token bucket on pause/resume). */
function sink(req: IncomingMessage, res: ServerResponse, rate: number): void {
  let bytes = 0;
  const started = performance.now();
  let timer: NodeJS.Timeout | undefined;
  req.on('data', (chunk: Buffer) => {
    bytes += chunk.length;
    sinkBytes += chunk.length;
    if (rate > 0) {
      const dueAt = (bytes / rate) * 1000;
      const ahead = dueAt - (performance.now() - started);
      if (ahead > 2) {
        req.pause();
        timer = setTimeout(() => req.resume(), ahead);
      }
    }
  });
  req.on('end', () => {
    const body = JSON.stringify({ bytes });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
    res.end(body);
  });
  req.on('close', () => clearTimeout(timer));
  req.on('error', () => clearTimeout(timer));
}

const server = createServer({ keepAliveTimeout: 120_000, headersTimeout: 130_000, requestTimeout: 0 }, (req, res) => {
  const url = new URL(req.url ?? '/', 'http://origin');
  if (req.method === 'GET' && url.pathname === '/') {
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(HELLO.length) });
    res.end(HELLO);
    return;
  }
  if (req.method === 'GET' && url.pathname === '/bytes') {
    const n = Number(url.searchParams.get('n') ?? '0');
    if (!Number.isSafeInteger(n) || n < 0) {
      res.writeHead(400).end('bad n\n');
      return;
    }
    sendBytes(res, n);
    return;
  }
  if (req.method === 'POST' && url.pathname === '/sink') {
    sink(req, res, Number(url.searchParams.get('rate') ?? '0') || 0);
    return;
  }
  if (req.method === 'GET' && url.pathname === '/stats') {
    const body = JSON.stringify({ ws: wsOpen, sinkBytes });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
    res.end(body);
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
});
server.maxHeadersCount = 100;
server.on('clientError', (_err, socket) => socket.destroy());

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false });
server.on('upgrade', (req, socket, head) => {
  socket.on('error', () => socket.destroy());
  if (req.url !== '/ws') {
    socket.destroy();
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => {
    wsOpen++;
    ws.on('error', () => ws.terminate());
    ws.once('close', () => wsOpen--);
  });
});

const port = Number(process.argv[2] ?? '0');
server.listen(port, '127.0.0.1', () => {
  const address = server.address();
  const actual = typeof address === 'object' && address ? address.port : port;
  process.stdout.write(`${JSON.stringify({ event: 'listening', port: actual })}\n`);
});

const stop = (): void => {
  server.close();
  server.closeAllConnections();
  process.exit(0);
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
