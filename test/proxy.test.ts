import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { Transform } from 'node:stream';
import { closeOf, nextMessage, openWebSocket, rawHttp, request, requestHashed, requestTimed } from './lib/http.js';
import { Origin } from './lib/origin.js';
import { patternSha256, patternStream } from './lib/pattern.js';
import {
  ConnectorProcess,
  EdgeProcess,
  createAccount,
  createSocket,
  freePort,
  makeTempDir,
  parseJson,
  type ConnectEvent,
  type ReadyEvent,
} from './lib/postern.js';
import { killAll } from './lib/process.js';

const MiB = 1024 * 1024;

/** Parses a JSON body, with the raw text in the failure message. */
function json(body: Buffer): any {
  try {
    return JSON.parse(body.toString('utf8'));
  } catch {
    assert.fail(`expected JSON, got: ${body.toString('utf8').slice(0, 300)}`);
  }
}

describe('proxy: one edge, one connector, a local app', () => {
  const tmp = makeTempDir('proxy');
  let edge: EdgeProcess;
  let origin: Origin;
  let token: string;
  let conn: ConnectorProcess;
  const get = (path: string, headers: Record<string, string> = {}, host = conn.publicHost) =>
    request({ port: edge.port, host, path, headers });

  before(async () => {
    origin = await Origin.start();
    const db = `${tmp.dir}/edge.db`;
    token = await createAccount(db, 'alice@example.com');
    edge = await EdgeProcess.start({ db });
    conn = await ConnectorProcess.startServing({ edge, token, appPort: origin.port, name: 'web' });
  });

  after(async () => {
    await killAll();
    await origin?.close();
    tmp.remove();
  });

  it('prints a ready line first, whose URL names the socket under the edge domain', async () => {
    const line = await conn.proc.waitForLine((l) => parseJson<ConnectEvent>(l)?.event === 'ready', 5_000, 'the ready line');
    assert.equal(conn.proc.stdoutLines[0], line, 'the ready event is the first line printed');
    const ready = parseJson<ReadyEvent>(line)!;
    assert.match(ready.url, new RegExp(`^http://web-[a-z0-9-]+\\.localhost:${edge.port}$`));
    assert.equal(ready.socket_id, conn.socketId);
    assert.equal(`${ready.hostname}:${edge.port}`, conn.publicHost);
    assert.equal(new URL(ready.url).host, conn.publicHost);
  });

  it('serves a small GET from the app through the tunnel', async () => {
    const res = await get('/hello');
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'hello from origin');
    assert.equal(res.headers['postern-error'], undefined);
  });

  it('uploads a 50 MiB body whose sha256 matches at the app and in the reply', { timeout: 60_000 }, async () => {
    const size = 50 * MiB;
    const sent = createHash('sha256');
    let sentBytes = 0;
    const tap = new Transform({
      transform(chunk: Buffer, _enc, callback) {
        sent.update(chunk);
        sentBytes += chunk.length;
        callback(null, chunk);
      },
    });
    const uploadsBefore = origin.uploads.length;
    const res = await request({
      port: edge.port,
      host: conn.publicHost,
      method: 'POST',
      path: '/sha256',
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body: patternStream(size).pipe(tap),
      timeoutMs: 45_000,
    });
    const expected = sent.digest('hex');
    assert.equal(sentBytes, size);
    assert.equal(res.status, 200, res.body.toString());
    const reply = json(res.body);
    assert.deepEqual(reply, { sha256: expected, length: size });
    assert.equal(origin.uploads.length, uploadsBefore + 1);
    assert.deepEqual(origin.uploads.at(-1), { sha256: expected, length: size });
  });

  it('uploads a chunked body of unknown length intact', { timeout: 30_000 }, async () => {
    const size = 3 * MiB + 17;
    const res = await request({
      port: edge.port,
      host: conn.publicHost,
      method: 'POST',
      path: '/sha256',
      body: patternStream(size, 7),
      timeoutMs: 20_000,
    });
    assert.equal(res.status, 200, res.body.toString());
    assert.deepEqual(json(res.body), { sha256: patternSha256(size, 7), length: size });
  });

  it('downloads 20 MiB whose sha256 matches what the app sent', { timeout: 60_000 }, async () => {
    const size = 20 * MiB;
    const res = await requestHashed({ port: edge.port, host: conn.publicHost, path: `/bytes?n=${size}`, timeoutMs: 45_000 });
    assert.equal(res.status, 200);
    assert.equal(res.length, size);
    assert.equal(res.sha256, patternSha256(size));
  });

  it('replaces client-sent X-Forwarded-For, x_forwarded_for, Forwarded and X-Real-IP with the edge view', async () => {
    const res = await get('/headers', {
      'X-Forwarded-For': '6.6.6.6',
      x_forwarded_for: '7.7.7.7',
      Forwarded: 'for=8.8.8.8;proto=https',
      'X-Real-IP': '9.9.9.9',
      'X-Forwarded-Host': 'evil.example',
      'X-Forwarded-Proto': 'https',
      'X-Forwarded-Port': '1',
    });
    assert.equal(res.status, 200);
    const { headers, rawHeaders } = json(res.body) as { headers: Record<string, string>; rawHeaders: string[] };
    assert.equal(headers['x-forwarded-for'], '127.0.0.1', 'the edge sets X-Forwarded-For to the client address it saw');
    assert.equal(headers['x-forwarded-host'], conn.publicHost);
    assert.equal(headers['x-forwarded-proto'], 'http');
    assert.equal(headers['forwarded'], undefined);
    assert.equal(headers['x-real-ip'], undefined);
    assert.equal(headers['x-forwarded-port'], undefined);
    const names = rawHeaders.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase().replace(/_/g, '-'));
    for (const name of ['x-forwarded-for', 'x-forwarded-host', 'x-forwarded-proto']) {
      assert.equal(names.filter((n) => n === name).length, 1, `exactly one ${name} (any spelling) reaches the app: ${rawHeaders.join(', ')}`);
    }
    const values = rawHeaders.filter((_, i) => i % 2 === 1).join('\n');
    for (const spoofed of ['6.6.6.6', '7.7.7.7', '8.8.8.8', '9.9.9.9', 'evil.example']) {
      assert.ok(!values.includes(spoofed), `client-sent ${spoofed} must not reach the app: ${rawHeaders.join(', ')}`);
    }
  });

  it('removes hop-by-hop headers and the headers named in Connection', async () => {
    const res = await get('/headers', {
      Connection: 'X-Custom',
      'X-Custom': 'connection-scoped',
      'Keep-Alive': 'timeout=5',
      TE: 'trailers',
      'X-Kept': 'end-to-end',
    });
    assert.equal(res.status, 200);
    const { headers } = json(res.body) as { headers: Record<string, string> };
    assert.equal(headers['x-custom'], undefined, 'a header named in Connection is hop-by-hop');
    assert.equal(headers['keep-alive'], undefined);
    assert.equal(headers['te'], undefined);
    assert.ok(!/x-custom/i.test(headers['connection'] ?? ''), `Connection reaching the app: ${headers['connection']}`);
    assert.equal(headers['x-kept'], 'end-to-end', 'end-to-end headers pass');
  });

  it('gives the app the public Host by default', async () => {
    const res = await get('/headers');
    const { headers } = json(res.body) as { headers: Record<string, string> };
    assert.equal(headers['host'], conn.publicHost);
  });

  it('gives the app 127.0.0.1:APPPORT as Host when the connector runs with --rewrite-host', async () => {
    const rewriting = await ConnectorProcess.startServing({ edge, token, appPort: origin.port, name: 'rewrite', args: ['--rewrite-host'] });
    try {
      const res = await get('/headers', {}, rewriting.publicHost);
      assert.equal(res.status, 200);
      const { headers } = json(res.body) as { headers: Record<string, string> };
      assert.equal(headers['host'], `127.0.0.1:${origin.port}`);
      assert.equal(headers['x-forwarded-host'], rewriting.publicHost, 'the public host is still told in X-Forwarded-Host');
    } finally {
      await rewriting.stop();
    }
  });

  it('echoes WebSocket text and a 1 MiB binary message through the tunnel', { timeout: 20_000 }, async () => {
    const ws = await openWebSocket(edge.port, conn.publicHost, '/ws');
    try {
      ws.send('hello over the tunnel');
      const text = await nextMessage(ws);
      assert.equal(text.isBinary, false);
      assert.equal(text.data.toString('utf8'), 'hello over the tunnel');

      const payload = Buffer.concat(Array.from({ length: 16 }, (_, i) => Buffer.alloc(64 * 1024, i)));
      assert.equal(payload.length, MiB);
      ws.send(payload);
      const binary = await nextMessage(ws, 15_000);
      assert.equal(binary.isBinary, true);
      assert.equal(binary.data.length, MiB);
      assert.ok(binary.data.equals(payload), 'the echoed bytes are the bytes sent');
    } finally {
      const closed = closeOf(ws).catch(() => undefined);
      ws.close(1000);
      await closed;
    }
  });

  it('delivers Server-Sent Events one by one before the response ends', { timeout: 20_000 }, async () => {
    const arrivals: number[] = [];
    let buffered = '';
    const res = await requestTimed({ port: edge.port, host: conn.publicHost, path: '/sse?n=5&gap=200' }, (chunk, at) => {
      buffered += chunk;
      let index: number;
      while ((index = buffered.indexOf('\n\n')) !== -1) {
        arrivals.push(at);
        buffered = buffered.slice(index + 2);
      }
    });
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /text\/event-stream/);
    assert.equal(arrivals.length, 5, 'five events arrive');
    const sent = origin.sseSentAt;
    assert.equal(sent.length, 5);
    // The first event is in the client's hands while the app has not yet written the last one.
    assert.ok(arrivals[0]! < sent[4]! - 400, `first event arrived at +${(arrivals[0]! - sent[0]!).toFixed(0)} ms, last was sent at +${(sent[4]! - sent[0]!).toFixed(0)} ms`);
    // Arrivals are spread like the sends (no batching at the end).
    assert.ok(arrivals[4]! - arrivals[0]! >= 600, `arrivals spread over ${(arrivals[4]! - arrivals[0]!).toFixed(0)} ms`);
    for (let i = 0; i < 5; i++) {
      assert.ok(arrivals[i]! - sent[i]! < 300, `event ${i} took ${(arrivals[i]! - sent[i]!).toFixed(0)} ms to arrive`);
    }
    assert.ok(arrivals[0]! < res.endedAt);
  });

  it("passes the app's own 502 through without a postern-error header", async () => {
    const res = await get('/status/502');
    assert.equal(res.status, 502);
    assert.equal(res.headers['postern-error'], undefined);
    assert.equal(res.body.toString(), 'the origin itself says 502');
  });

  it('answers 502 TUNNEL_OFFLINE for a socket whose connector has stopped', { timeout: 30_000 }, async () => {
    const socket = await createSocket(edge, token, 'offline');
    const host = new URL(socket.url).host;
    const c = await ConnectorProcess.startServing({ edge, token, appPort: origin.port, socket });
    const before = await get('/hello', {}, host);
    assert.equal(before.status, 200);
    const exit = await c.stop();
    assert.equal(exit.code, 0, c.proc.output());

    const html = await get('/hello', {}, host);
    assert.equal(html.status, 502);
    assert.equal(html.headers['postern-error'], 'TUNNEL_OFFLINE');
    assert.match(String(html.headers['content-type']), /text\/html/);

    const res = await get('/hello', { accept: 'application/json' }, host);
    assert.equal(res.status, 502);
    assert.equal(res.headers['postern-error'], 'TUNNEL_OFFLINE');
    assert.equal(json(res.body).error.code, 'TUNNEL_OFFLINE');
  });

  it('answers 502 APP_UNREACHABLE when nothing listens on the target port', { timeout: 30_000 }, async () => {
    const deadPort = await freePort();
    const c = await ConnectorProcess.startServing({ edge, token, appPort: deadPort, name: 'nothing' });
    try {
      const res = await get('/hello', { accept: 'application/json' }, c.publicHost);
      assert.equal(res.status, 502);
      assert.equal(res.headers['postern-error'], 'APP_UNREACHABLE');
      assert.equal(json(res.body).error.code, 'APP_UNREACHABLE');
    } finally {
      await c.stop();
    }
  });

  it('answers 404 SOCKET_NOT_FOUND for an unknown host: HTML by default, JSON when asked', async () => {
    const host = `nobody-here.localhost:${edge.port}`;
    const html = await get('/', {}, host);
    assert.equal(html.status, 404);
    assert.equal(html.headers['postern-error'], 'SOCKET_NOT_FOUND');
    assert.match(String(html.headers['content-type']), /text\/html/);
    assert.match(html.body.toString(), /<html/i);

    const res = await get('/', { accept: 'application/json' }, host);
    assert.equal(res.status, 404);
    assert.equal(res.headers['postern-error'], 'SOCKET_NOT_FOUND');
    assert.match(String(res.headers['content-type']), /application\/json/);
    assert.equal(json(res.body).error.code, 'SOCKET_NOT_FOUND');
  });

  it('answers 431 when the request headers exceed the limit, and serves headers under it', async () => {
    const small = await get('/hello', { 'x-padding': 'a'.repeat(4 * 1024) });
    assert.equal(small.status, 200);
    const res = await rawHttp(
      edge.port,
      `GET /hello HTTP/1.1\r\nHost: ${conn.publicHost}\r\nX-Padding: ${'a'.repeat(20 * 1024)}\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(res.status, 431, res.head);
  });

  it('answers 400 to an absolute-form request target and forwards nothing', async () => {
    const seen = origin.requests.length;
    const res = await rawHttp(
      edge.port,
      `GET http://other.example/hello HTTP/1.1\r\nHost: ${conn.publicHost}\r\nConnection: close\r\n\r\n`,
    );
    assert.equal(res.status, 400, res.head);
    assert.match(res.head, /postern-error: BAD_REQUEST/i);
    assert.equal(origin.requests.length, seen, 'the app received nothing');
    const after = await get('/hello');
    assert.equal(after.status, 200, 'the edge keeps serving');
  });
});

describe('proxy: an app slower than --upstream-timeout', () => {
  const tmp = makeTempDir('proxy-timeout');
  let edge: EdgeProcess;
  let origin: Origin;
  let conn: ConnectorProcess;

  before(async () => {
    origin = await Origin.start();
    const db = `${tmp.dir}/edge.db`;
    const token = await createAccount(db, 'bob@example.com');
    edge = await EdgeProcess.start({ db, extraArgs: ['--upstream-timeout', '1s'] });
    conn = await ConnectorProcess.startServing({ edge, token, appPort: origin.port, name: 'slow' });
  });

  after(async () => {
    await killAll();
    await origin?.close();
    tmp.remove();
  });

  it('answers 504 APP_TIMEOUT after about a second', { timeout: 20_000 }, async () => {
    const started = performance.now();
    const res = await request({ port: edge.port, host: conn.publicHost, path: '/slow?ms=4000', headers: { accept: 'application/json' } });
    const elapsed = performance.now() - started;
    assert.equal(res.status, 504);
    assert.equal(res.headers['postern-error'], 'APP_TIMEOUT');
    assert.equal(json(res.body).error.code, 'APP_TIMEOUT');
    assert.ok(elapsed >= 900 && elapsed < 3500, `answered after ${elapsed.toFixed(0)} ms`);
  });

  it('still serves a fast request on the same tunnel afterwards', async () => {
    const res = await request({ port: edge.port, host: conn.publicHost, path: '/hello' });
    assert.equal(res.status, 200);
  });
});
