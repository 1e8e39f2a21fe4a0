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
 *
 * and, for the soak's integrity checks (every answer can be checked exactly by the client):
 *
 *   GET  /small?id=ID          "small ID\n" (a response delivered to the wrong request shows)
 *   GET  /pattern?n=N&seed=S   N deterministic pseudo-random bytes (test/lib/pattern.ts)
 *   POST /sha256               consumes the body, answers {"sha256":hex,"length":N} of what arrived
 *   GET  /sse?n=N&gap=MS       N events "id: i / data: i", MS apart, then "event: end / data: N"
 *   WS   /echo                 echoes every message (same type, same bytes)
 */
import { createHash } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { WebSocketServer } from 'ws';
import { patternChunks } from '#test-lib/pattern.js';

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

/** Writes `chunks` with backpressure; stops early if the client went away. */
async function writeAll(res: ServerResponse, chunks: Iterable<Buffer | string>): Promise<void> {
  for (const chunk of chunks) {
    if (res.destroyed) return;
    if (!res.write(chunk)) {
      await new Promise<void>((resolve) => {
        res.once('drain', resolve);
        res.once('close', resolve);
      });
    }
  }
  if (!res.destroyed) res.end();
}

async function sendEvents(res: ServerResponse, n: number, gapMs: number): Promise<void> {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  res.flushHeaders();
  for (let i = 0; i < n; i++) {
    if (i > 0) await new Promise((resolve) => setTimeout(resolve, gapMs));
    if (res.destroyed) return;
    res.write(`id: ${i}\ndata: ${i}\n\n`);
  }
  if (!res.destroyed) res.end(`event: end\ndata: ${n}\n\n`);
}

function answerJson(res: ServerResponse, value: unknown): void {
  const body = JSON.stringify(value);
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) });
  res.end(body);
}

function hashBody(req: IncomingMessage, res: ServerResponse): void {
  const hash = createHash('sha256');
  let length = 0;
  req.on('data', (chunk: Buffer) => {
    hash.update(chunk);
    length += chunk.length;
  });
  // An upload cut short ends in 'aborted', never 'end': only a complete body is answered.
  req.on('end', () => answerJson(res, { sha256: hash.digest('hex'), length }));
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
  req.on('end', () => answerJson(res, { bytes }));
  req.on('close', () => clearTimeout(timer));
  req.on('error', () => clearTimeout(timer));
}

/** A query parameter as a non-negative safe integer, or undefined. */
function count(url: URL, name: string, fallback?: number): number | undefined {
  const raw = url.searchParams.get(name);
  if (raw === null) return fallback;
  const n = Number(raw);
  return Number.isSafeInteger(n) && n >= 0 ? n : undefined;
}

function badRequest(res: ServerResponse, text: string): void {
  res.writeHead(400, { 'content-type': 'text/plain' }).end(`${text}\n`);
}

const server = createServer({ keepAliveTimeout: 120_000, headersTimeout: 130_000, requestTimeout: 0 }, (req, res) => {
  const url = new URL(req.url ?? '/', 'http://origin');
  if (req.method === 'GET' && url.pathname === '/small') {
    const id = url.searchParams.get('id') ?? '';
    if (!/^[A-Za-z0-9-]{1,64}$/.test(id)) return badRequest(res, 'bad id');
    const body = `small ${id}\n`;
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(body.length) });
    res.end(body);
    return;
  }
  if (req.method === 'GET' && url.pathname === '/pattern') {
    const n = count(url, 'n');
    const seed = count(url, 'seed', 1);
    if (n === undefined || seed === undefined || seed > 0xffffffff) return badRequest(res, 'bad n or seed');
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(n) });
    void writeAll(res, patternChunks(n, seed));
    return;
  }
  if (req.method === 'POST' && url.pathname === '/sha256') {
    hashBody(req, res);
    return;
  }
  if (req.method === 'GET' && url.pathname === '/sse') {
    const n = count(url, 'n', 10);
    const gap = count(url, 'gap', 100);
    if (n === undefined || gap === undefined) return badRequest(res, 'bad n or gap');
    void sendEvents(res, n, gap);
    return;
  }
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
    answerJson(res, { ws: wsOpen, sinkBytes });
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
});
server.maxHeadersCount = 100;
server.on('clientError', (_err, socket) => socket.destroy());

const wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, clientTracking: false, maxPayload: 16 * 1024 * 1024 });
server.on('upgrade', (req, socket, head) => {
  socket.on('error', () => socket.destroy());
  if (req.url === '/echo') {
    wss.handleUpgrade(req, socket, head, (ws) => {
      ws.on('error', () => ws.terminate());
      ws.on('message', (data, isBinary) => ws.send(data as Buffer, { binary: isBinary }));
    });
    return;
  }
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
