import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { ErrorCode, MuxSession, StreamResetError, type RequestHead, type ResponseHead } from '@postern/shared';
import { WebSocket, WebSocketServer } from 'ws';
import { StreamServer } from '../src/stream-server.js';
import type { ExchangeObserver } from '../src/target.js';

/** What the edge side of a stream saw. */
interface Answer {
  head: ResponseHead | undefined;
  body: Buffer;
  /** undefined: ended cleanly; otherwise the reset. */
  error: Error | undefined;
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** An edge session and a connector session over a real WebSocket, the connector serving `server`. */
async function tunnel(server: StreamServer): Promise<{ edge: MuxSession; close(): Promise<void> }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await once(wss, 'listening');
  const accepted = once(wss, 'connection') as Promise<[WebSocket]>;
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { perMessageDeflate: false });
  await once(client, 'open');
  const [serverSide] = await accepted;
  const edge = new MuxSession(serverSide, { role: 'edge' });
  const connector = new MuxSession(client, { role: 'connector' });
  connector.on('stream', (stream, preamble, ended) => server.serve(connector, stream, preamble, !ended));
  return {
    edge,
    close: async () => {
      edge.destroy();
      connector.destroy();
      await server.close();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}

/** Sends one request over the edge session and collects the answer. */
function exchange(edge: MuxSession, request: RequestHead, body?: Buffer): Promise<Answer> {
  return new Promise((resolve) => {
    const answer: Answer = { head: undefined, body: Buffer.alloc(0), error: undefined };
    const parts: Buffer[] = [];
    const stream = edge.open({ kind: 'http', request }, {
      onStreamHead: (head) => void (answer.head = head),
      onStreamData: (chunk) => {
        parts.push(Buffer.from(chunk));
        stream.consumed(chunk.length);
      },
      onStreamClose: (err) => {
        answer.body = Buffer.concat(parts);
        answer.error = err;
        resolve(answer);
      },
    }, body === undefined);
    if (body !== undefined) {
      stream.write(body);
      stream.end();
    }
  });
}

const header = (head: ResponseHead | undefined, name: string): string[] => {
  const out: string[] = [];
  for (let i = 0; i < (head?.headers.length ?? 0); i += 2) if (head!.headers[i] === name) out.push(head!.headers[i + 1]!);
  return out;
};

const listen = async <T extends Server | NetServer>(server: T): Promise<number> => {
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
};

describe('connector: serving the streams the edge opens', () => {
  let app: Server;
  let appPort: number;
  let raw: NetServer;
  let rawPort: number;
  const sockets = new Set<Socket>();
  let requests = 0;

  before(async () => {
    app = createServer((req, res) => {
      requests++;
      if (req.url === '/echo') {
        const parts: Buffer[] = [];
        req.on('data', (c: Buffer) => parts.push(c));
        req.on('end', () => {
          const body = Buffer.concat(parts);
          res.writeHead(200, { 'content-length': body.length, 'x-method': req.method, 'x-host': req.headers.host ?? '' });
          res.end(body);
        });
        return;
      }
      res.setHeader('set-cookie', ['a=1', 'b=2']);
      res.writeHead(200, { 'content-type': 'text/plain', 'x-bytes': '\xe9' });
      res.end(`hello ${req.url}`);
    });
    app.on('upgrade', (_req, socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: x\r\n\r\n');
      socket.on('data', (c: Buffer) => socket.write(Buffer.concat([Buffer.from('echo:'), c])));
    });
    app.on('connection', (socket: Socket) => sockets.add(socket));
    appPort = await listen(app);
    // Answers the way broken servers do: part of a body (of a Content-Length it does not keep, or
    // close-delimited), then a reset.
    raw = createNetServer((socket) => {
      sockets.add(socket);
      socket.once('data', (request: Buffer) => {
        const head = request.includes('/close-delimited') ? 'HTTP/1.0 200 OK\r\n\r\n' : 'HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n';
        socket.write(head + 'x'.repeat(1000));
        setTimeout(() => socket.resetAndDestroy(), 20);
      });
    });
    rawPort = await listen(raw);
  });

  after(async () => {
    for (const s of sockets) s.destroy();
    await Promise.all([raw, app].map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  });

  it('makes the request to its own target and answers with RESPONSE (headers as a field list, duplicates kept) and the body', async () => {
    const t = await tunnel(new StreamServer({ target: { host: '127.0.0.1', port: appPort } }));
    try {
      const answer = await withTimeout(exchange(t.edge, { method: 'GET', target: '/a?b=1', headers: ['host', 'app.test'] }), 5000, 'the answer');
      assert.equal(answer.error, undefined);
      assert.equal(answer.head?.status, 200);
      assert.deepEqual(header(answer.head, 'set-cookie'), ['a=1', 'b=2']);
      assert.deepEqual(header(answer.head, 'x-bytes'), ['\xe9'], 'header bytes arrive as they were sent');
      assert.equal(answer.body.toString(), 'hello /a?b=1');
    } finally {
      await t.close();
    }
  });

  it('sends the request body, with the Host the edge chose', async () => {
    const t = await tunnel(new StreamServer({ target: { host: '127.0.0.1', port: appPort } }));
    try {
      const body = Buffer.alloc(3 * 1024 * 1024, 0x61);
      const answer = await withTimeout(
        exchange(t.edge, { method: 'PUT', target: '/echo', headers: ['host', 'public.example', 'content-length', String(body.length)] }, body),
        10_000,
        'the echo',
      );
      assert.equal(answer.error, undefined);
      assert.deepEqual([header(answer.head, 'x-method'), header(answer.head, 'x-host')], [['PUT'], ['public.example']]);
      assert.ok(answer.body.equals(body), 'every byte came back');
    } finally {
      await t.close();
    }
  });

  // Regression: undici's HTTP/1 parser, paused under backpressure, asserted when the app's FIN came
  // (undici#5360, fixed only in undici 8): an app that closes right after a large body (HTTP/1.0,
  // Connection: close) crashed the whole connector.
  for (const [framing, head] of [
    ['Connection: close with a Content-Length', (n: number) => `HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: ${n}\r\n\r\n`],
    ['HTTP/1.0, close-delimited', () => 'HTTP/1.0 200 OK\r\n\r\n'],
  ] as const) {
    it(`relays a large answer that ends with the app closing (${framing}) while the edge reads slowly`, { timeout: 30_000 }, async () => {
      const size = 6 * 1024 * 1024;
      const closing = createNetServer((socket) => {
        socket.on('error', () => undefined);
        socket.once('data', () => socket.end(Buffer.concat([Buffer.from(head(size)), Buffer.alloc(size, 0x62)])));
      });
      const port = await listen(closing);
      const t = await tunnel(new StreamServer({ target: { host: '127.0.0.1', port } }));
      try {
        // Ten at once, each taking every chunk a moment late: the connector's queues fill and undici
        // pauses and resumes again and again, with the app's FIN arriving in between.
        const one = (delay: (f: () => void) => void) => {
          let got = 0;
          return new Promise<[Error | undefined, number]>((resolve) => {
            const stream = t.edge.open({ kind: 'http', request: { method: 'GET', target: '/', headers: ['host', 'a'] } }, {
              onStreamData: (chunk) => {
                got += chunk.length;
                delay(() => stream.consumed(chunk.length));
              },
              onStreamClose: (err) => resolve([err, got]),
            }, true);
          });
        };
        const delays = [(f: () => void) => setImmediate(f), (f: () => void) => setTimeout(f, 1), (f: () => void) => queueMicrotask(f)];
        const results = await withTimeout(Promise.all(Array.from({ length: 12 }, (_, i) => one(delays[i % delays.length]!))), 25_000, 'every answer');
        for (const [err, got] of results) {
          assert.equal(err, undefined, 'a clean end');
          assert.equal(got, size);
        }
      } finally {
        await t.close();
        await new Promise<void>((resolve) => closing.close(() => resolve()));
      }
    });
  }

  it('resets with TARGET_UNREACHABLE when nothing listens on the target', async () => {
    const closed = createNetServer();
    const port = await listen(closed);
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    const t = await tunnel(new StreamServer({ target: { host: '127.0.0.1', port } }));
    try {
      const answer = await withTimeout(exchange(t.edge, { method: 'GET', target: '/', headers: ['host', 'a'] }), 5000, 'the refusal');
      assert.equal(answer.head, undefined);
      assert.ok(answer.error instanceof StreamResetError);
      assert.equal(answer.error.code, ErrorCode.TARGET_UNREACHABLE);
      assert.match(answer.error.reason, /ECONNREFUSED connecting to 127\.0\.0\.1:/);
    } finally {
      await t.close();
    }
  });

  for (const path of ['/content-length', '/close-delimited']) {
    it(`resets with TARGET_FAILED when the app resets mid-body (${path.slice(1)}): the edge can never take it for complete`, async () => {
      const t = await tunnel(new StreamServer({ target: { host: '127.0.0.1', port: rawPort } }));
      try {
        const answer = await withTimeout(exchange(t.edge, { method: 'GET', target: path, headers: ['host', 'a'] }), 5000, 'the reset');
        assert.equal(answer.head?.status, 200, 'the head was relayed');
        assert.ok(answer.error instanceof StreamResetError, 'no clean end');
        assert.equal(answer.error.code, ErrorCode.TARGET_FAILED);
        assert.ok(answer.body.length <= 1000);
      } finally {
        await t.close();
      }
    });
  }

  /** A raw app that answers every request with `bytes`, then closes. */
  async function scripted(bytes: string, test: (t: { edge: MuxSession }) => Promise<void>): Promise<void> {
    const server = createNetServer((socket) => {
      sockets.add(socket);
      socket.once('data', () => socket.end(Buffer.from(bytes, 'latin1')));
    });
    const t = await tunnel(new StreamServer({ target: { host: '127.0.0.1', port: await listen(server) } }));
    try {
      await test(t);
    } finally {
      await t.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  }

  it('answers a 304 that declares a Content-Length as complete at its head (undici would fail it as a length mismatch)', async () => {
    await scripted('HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\nContent-Length: 5\r\n\r\n', async (t) => {
      const answer = await withTimeout(exchange(t.edge, { method: 'GET', target: '/', headers: ['host', 'a'] }), 5000, 'the 304');
      assert.equal(answer.head?.status, 304);
      assert.deepEqual(header(answer.head, 'etag'), ['"v1"']);
      assert.equal(answer.error, undefined, 'a clean end');
      assert.equal(answer.body.length, 0);
    });
  });

  for (const [name, bytes] of [
    ['not HTTP', 'SSH-2.0-OpenSSH_9.2p1\r\n'],
    ['two Content-Lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok'],
  ] as const) {
    it(`resets with TARGET_BAD_RESPONSE when the app's answer is ${name} (the edge answers APP_BAD_RESPONSE)`, async () => {
      await scripted(bytes, async (t) => {
        const answer = await withTimeout(exchange(t.edge, { method: 'GET', target: '/', headers: ['host', 'a'] }), 5000, 'the reset');
        assert.equal(answer.head, undefined);
        assert.ok(answer.error instanceof StreamResetError);
        assert.equal(answer.error.code, ErrorCode.TARGET_BAD_RESPONSE, answer.error.reason);
      });
    });
  }

  it('refuses a request head its HTTP client does not allow (PROTOCOL_ERROR), without reaching the app', async () => {
    const before = requests;
    const t = await tunnel(new StreamServer({ target: { host: '127.0.0.1', port: appPort } }));
    try {
      const answer = await withTimeout(exchange(t.edge, { method: 'GET', target: '/', headers: ['host', 'a', 'transfer-encoding', 'chunked'] }), 5000, 'the refusal');
      assert.ok(answer.error instanceof StreamResetError);
      assert.equal(answer.error.code, ErrorCode.PROTOCOL_ERROR);
      assert.equal(requests, before, 'the app never saw it');
    } finally {
      await t.close();
    }
  });

  it('turns a websocket stream answered 101 into a byte stream both ways', async () => {
    const t = await tunnel(new StreamServer({ target: { host: '127.0.0.1', port: appPort } }));
    try {
      const got: Buffer[] = [];
      let head: ResponseHead | undefined;
      const echoed = new Promise<void>((resolve) => {
        const stream = t.edge.open({ kind: 'websocket', request: { method: 'GET', target: '/ws', headers: ['host', 'a', 'sec-websocket-key', 'k', 'sec-websocket-version', '13'] } }, {
          onStreamHead: (h) => {
            head = h;
            stream.write(Buffer.from('ping'));
          },
          onStreamData: (chunk) => {
            got.push(Buffer.from(chunk));
            stream.consumed(chunk.length);
            if (Buffer.concat(got).toString() === 'echo:ping') resolve();
          },
          onStreamClose: () => undefined,
        });
      });
      await withTimeout(echoed, 5000, 'the echo after 101');
      assert.equal(head?.status, 101);
      assert.deepEqual(header(head, 'upgrade'), ['websocket']);
    } finally {
      await t.close();
    }
  });

  it('shows each exchange to an observer: heads and body bytes as they pass, then the end', async () => {
    const seen: string[] = [];
    const observe = (request: RequestHead): ExchangeObserver => {
      seen.push(`request ${request.method} ${request.target}`);
      return {
        requestBody: (chunk) => seen.push(`request body ${chunk.length}`),
        response: (head) => seen.push(`response ${head.status}`),
        responseBody: (chunk) => seen.push(`response body ${chunk.toString()}`),
        end: (error) => seen.push(`end ${error ? 'error' : 'ok'}`),
      };
    };
    const t = await tunnel(new StreamServer({ target: { host: '127.0.0.1', port: appPort }, observe }));
    try {
      await withTimeout(exchange(t.edge, { method: 'POST', target: '/echo', headers: ['host', 'a', 'content-length', '3'] }, Buffer.from('abc')), 5000, 'the echo');
      assert.deepEqual(seen, ['request POST /echo', 'request body 3', 'response 200', 'response body abc', 'end ok']);
    } finally {
      await t.close();
    }
  });
});
