import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { FrameType, PROTOCOL_VERSION, encodeFrame } from '@postern/shared';
import { closeOf, nextMessage, openWebSocket, rawHttp, request } from './lib/http.js';
import { Origin } from './lib/origin.js';
import { patternChunks, patternSha256, patternStream } from './lib/pattern.js';
import {
  ConnectorProcess,
  EdgeProcess,
  api,
  createAccount,
  createSocket,
  makeTempDir,
  runCli,
  type EdgeLogLine,
  type SocketView,
} from './lib/postern.js';
import { killAll } from './lib/process.js';
import { openConnection } from './lib/tcp.js';
import { pollUntil, withTimeout } from './lib/wait.js';

const KiB = 1024;
const MiB = 1024 * KiB;

/** The edge under test: every limit small enough to reach from a test in a moment. */
const EDGE_LIMITS = [
  '--max-header-count', '30',
  '--max-body-bytes', '1MiB',
  '--header-timeout', '2s',
  '--body-idle-timeout', '2s',
  '--keep-alive-timeout', '2s',
  '--max-streams-per-user', '3',
  '--max-streams-per-connection', '4',
  '--max-client-resets', '5',
  '--client-reset-window', '60s',
  '--tunnel-max-message', '128KiB',
];

/** Parses a JSON body, with the raw text in the failure message. */
function json(body: Buffer | string): any {
  const text = body.toString();
  try {
    return JSON.parse(text);
  } catch {
    assert.fail(`expected JSON, got: ${text.slice(0, 300)}`);
  }
}

/** One chunk of a chunked body. */
const chunk = (data: Buffer): Buffer => Buffer.concat([Buffer.from(`${data.length.toString(16)}\r\n`), data, Buffer.from('\r\n')]);

describe('limits: one edge with small limits, its connectors and a local app', () => {
  const tmp = makeTempDir('limits');
  let edge: EdgeProcess;
  let origin: Origin;
  let token: string;
  /** A public quick share served over ONE tunnel connection (max 4 streams). */
  let web: ConnectorProcess;
  /** A signed-in socket made with `socket create --max-body-size 64MiB`. */
  let big: SocketView;
  let bigHost: string;
  let barriers = 0;

  before(async () => {
    origin = await Origin.start();
    const db = `${tmp.dir}/edge.db`;
    token = await createAccount(db, 'alice@example.com');
    edge = await EdgeProcess.start({ db, extraArgs: EDGE_LIMITS });
    web = await ConnectorProcess.startServing({ edge, token, appPort: origin.port, name: 'web', args: ['--connections', '1'], connections: 1 });
    const created = await runCli(['socket', 'create', '--name', 'big', '--cloudauth', '--max-body-size', '64MiB', '--json'], {
      POSTERN_EDGE: edge.url,
      POSTERN_TOKEN: token,
    });
    assert.equal(created.code, 0, created.stderr.join('\n'));
    big = json(created.stdout.join('\n')) as SocketView;
    bigHost = new URL(big.url).host;
    await ConnectorProcess.startServing({ edge, token, appPort: origin.port, socket: big, label: 'connect:big' });
  });

  after(async () => {
    await killAll();
    await origin?.close();
    tmp.remove();
  });

  const get = (path: string, from?: string, headers: Record<string, string> = {}, host = web.publicHost) =>
    request({ port: edge.port, host, path, headers: { accept: 'application/json', ...headers }, ...(from ? { localAddress: from } : {}) });
  const withToken = (): Record<string, string> => ({ authorization: `Bearer ${token}` });

  /** Returns once every line the edge logged before now has been read (a refusal it logs with a unique host). */
  async function logBarrier(): Promise<void> {
    const marker = `barrier-${++barriers}.nowhere.test`;
    const res = await request({ port: edge.port, host: marker, path: '/' });
    assert.equal(res.status, 404);
    await pollUntil(async () => (edge.proc.stdoutLines.some((l) => l.includes(marker)) ? true : undefined), { timeoutMs: 5_000, what: 'the log barrier line' });
  }

  /** Asserts that `limit` was logged exactly once as a warning for lines matching `where`, however often it was hit. */
  async function assertLoggedOnce(limit: string, where: Readonly<Record<string, unknown>>): Promise<EdgeLogLine> {
    await logBarrier();
    const lines = edge.logs().filter((l) => l.limit === limit && Object.entries(where).every(([k, v]) => l[k] === v));
    assert.equal(lines.length, 1, `one "${limit}" line for ${JSON.stringify(where)}; got:\n${lines.map((l) => JSON.stringify(l)).join('\n')}`);
    assert.equal(lines[0]!.level, 40, 'logged as a warning');
    return lines[0]!;
  }

  /** A raw request head for the public socket. */
  const head = (requestLine: string, headers: readonly string[] = []) =>
    `${requestLine} HTTP/1.1\r\nHost: ${web.publicHost}\r\n${headers.map((h) => `${h}\r\n`).join('')}Connection: close\r\n\r\n`;

  describe('request heads', () => {
    it('answers 431 to more header fields than --max-header-count before anything reaches the app, and serves one under it whole', async () => {
      const under = Object.fromEntries(Array.from({ length: 25 }, (_, i) => [`x-limit-${i}`, `v${i}`]));
      const ok = await get('/headers', '127.0.0.2', under);
      assert.equal(ok.status, 200, ok.body.toString());
      const seen = json(ok.body).headers as Record<string, string>;
      for (let i = 0; i < 25; i++) assert.equal(seen[`x-limit-${i}`], `v${i}`, `header ${i} reached the app`);

      const over = Array.from({ length: 30 }, (_, i) => `X-Limit-${i}: v${i}`);
      for (let attempt = 0; attempt < 2; attempt++) {
        const res = await rawHttp(edge.port, head('GET /headers?too-many', ['Accept: application/json', ...over]), 10_000, '127.0.0.2');
        assert.equal(res.status, 431, res.head);
        assert.match(res.head, /postern-error: TOO_MANY_HEADERS/i);
        assert.equal(json(res.body).error.code, 'TOO_MANY_HEADERS');
      }
      assert.equal(origin.requestsTo('/headers?too-many').length, 0, 'the app received nothing');
      await assertLoggedOnce('header_count', { client: '127.0.0.2' });
    });

    it('answers 431 with the edge error page to headers over --max-header-bytes, and logs it once', async () => {
      for (let attempt = 0; attempt < 2; attempt++) {
        const res = await rawHttp(edge.port, head('GET /hello?huge', [`X-Padding: ${'a'.repeat(20 * KiB)}`]), 10_000, '127.0.0.3');
        assert.equal(res.status, 431, res.head);
        assert.match(res.head, /postern-error: HEADERS_TOO_LARGE/i);
        assert.match(res.body, /Request headers too large/);
      }
      assert.equal(origin.requestsTo('/hello?huge').length, 0);
      await assertLoggedOnce('header_size', { client: '127.0.0.3' });
    });

    it('answers 408 to request headers that do not arrive within --header-timeout (slowloris), and closes a silent connection', { timeout: 30_000 }, async () => {
      const partial = `GET /hello?slowloris HTTP/1.1\r\nHost: ${web.publicHost}\r\nX-Slow: a`;
      const answers = await Promise.all([0, 1].map(() => rawHttp(edge.port, partial, 10_000, '127.0.0.12')));
      for (const res of answers) {
        assert.equal(res.status, 408, res.head);
        assert.match(res.head, /postern-error: REQUEST_TIMEOUT/i);
        assert.match(res.body, /did not arrive within 2 s/);
      }
      assert.equal(origin.requestsTo('/hello?slowloris').length, 0);

      const silent = await openConnection(edge.port, 10_000, '127.0.0.12');
      await withTimeout(silent.closed, 10_000, 'the edge to close a connection that never sent a byte');
      assert.equal(Buffer.concat(silent.received).length, 0, 'an unused connection is closed without an answer');
      await assertLoggedOnce('header_timeout', { client: '127.0.0.12' });
    });

    it('closes an idle keep-alive connection after --keep-alive-timeout', { timeout: 30_000 }, async () => {
      const conn = await openConnection(edge.port);
      conn.socket.write(`GET /hello HTTP/1.1\r\nHost: ${web.publicHost}\r\n\r\n`);
      const answered = await pollUntil(
        async () => {
          const text = Buffer.concat(conn.received).toString('latin1');
          return text.endsWith('hello from origin\r\n0\r\n\r\n') ? text : undefined;
        },
        { timeoutMs: 10_000, intervalMs: 50, what: 'the answer on the keep-alive connection' },
      );
      assert.match(answered, /^HTTP\/1\.1 200/);
      assert.match(answered, /connection: keep-alive/i);
      await withTimeout(conn.closed, 15_000, 'the edge to close the idle keep-alive connection');
      assert.equal(Buffer.concat(conn.received).toString('latin1'), answered, 'nothing more was sent before the close');
    });
  });

  describe('request bodies', () => {
    it('refuses a declared Content-Length over --max-body-bytes with 413 before forwarding anything, and never says 100 Continue', async () => {
      for (const expect of [[], ['Expect: 100-continue']]) {
        const res = await rawHttp(
          edge.port,
          head('POST /sha256?declared', ['Accept: application/json', `Content-Length: ${2 * MiB}`, ...expect]),
          10_000,
          '127.0.0.4',
        );
        assert.equal(res.status, 413, `${expect.join('')}: ${res.head}`);
        assert.match(res.head, /connection: close/i);
        assert.equal(json(res.body).error.code, 'BODY_TOO_LARGE');
        assert.match(json(res.body).error.message, /1MiB/);
      }
      assert.equal(origin.requestsTo('/sha256?declared').length, 0, 'the app received nothing');
      await assertLoggedOnce('body_size', { client: '127.0.0.4', socket: web.socketId });
    });

    it('says 100 Continue to an accepted upload and delivers it', async () => {
      const body = Buffer.from('small and welcome');
      const conn = await openConnection(edge.port, 10_000, '127.0.0.4');
      conn.socket.write(head('POST /sha256?continue', [`Content-Length: ${body.length}`, 'Expect: 100-continue']));
      await pollUntil(async () => (Buffer.concat(conn.received).toString('latin1').startsWith('HTTP/1.1 100 Continue') ? true : undefined), {
        timeoutMs: 10_000,
        intervalMs: 50,
        what: '100 Continue',
      });
      conn.socket.write(body);
      await withTimeout(conn.closed, 10_000, 'the answer');
      const text = Buffer.concat(conn.received).toString('latin1');
      assert.match(text, /\r\n\r\nHTTP\/1\.1 200 /);
      assert.match(text, new RegExp(`"length":${body.length}`), 'the app read the whole body');
    });

    it('answers 413 to a chunked body that crosses the limit; the app never gets it as a complete body', async () => {
      const uploads = origin.uploads.length;
      const crossing = Buffer.concat([...patternChunks(MiB + 64 * KiB)].map(chunk));
      const res = await rawHttp(
        edge.port,
        Buffer.concat([Buffer.from(head('POST /sha256?chunked', ['Accept: application/json', 'Transfer-Encoding: chunked'])), crossing]),
        10_000,
        '127.0.0.14',
      );
      assert.equal(res.status, 413, res.head);
      assert.equal(json(res.body).error.code, 'BODY_TOO_LARGE');
      await pollUntil(async () => (origin.abandoned.includes('/sha256?chunked') ? true : undefined), {
        timeoutMs: 10_000,
        what: 'the app to see its request cut off',
      });
      assert.equal(origin.uploads.length, uploads, 'the app never read a complete body');

      const under = 900 * KiB;
      const ok = await request({ port: edge.port, host: web.publicHost, method: 'POST', path: '/sha256', body: patternStream(under, 3) });
      assert.equal(ok.status, 200, ok.body.toString());
      assert.deepEqual(json(ok.body), { sha256: patternSha256(under, 3), length: under });
    });

    it('resets the client connection when the body crosses the limit after the answer started', async () => {
      const conn = await openConnection(edge.port, 10_000, '127.0.0.14');
      conn.socket.write(head('POST /echo?crossing', ['Transfer-Encoding: chunked']));
      conn.socket.write(chunk(Buffer.alloc(512 * KiB, 7)));
      await pollUntil(async () => (Buffer.concat(conn.received).toString('latin1').startsWith('HTTP/1.1 200') ? true : undefined), {
        timeoutMs: 10_000,
        intervalMs: 20,
        what: "the app's answer to start",
      });
      conn.socket.write(chunk(Buffer.alloc(640 * KiB, 8)));
      await withTimeout(conn.closed, 10_000, 'the edge to cut the connection');
      const text = Buffer.concat(conn.received).toString('latin1');
      assert.match(text, /transfer-encoding: chunked/i);
      assert.ok(!text.endsWith('0\r\n\r\n'), 'the answer is cut off: no last chunk, so it cannot pass for complete');
      await pollUntil(async () => (origin.abandoned.includes('/echo?crossing') ? true : undefined), { timeoutMs: 10_000, what: 'the app to see its stream reset' });
    });

    it('answers 408 to a body that stops arriving for --body-idle-timeout, and the app sees its request cut off', { timeout: 30_000 }, async () => {
      const uploads = origin.uploads.length;
      const stalled = `${head('POST /sha256?idle', ['Accept: application/json', 'Content-Length: 1000'])}only ten b`;
      const answers = await Promise.all([0, 1].map(() => rawHttp(edge.port, stalled, 15_000, '127.0.0.13')));
      for (const res of answers) {
        assert.equal(res.status, 408, res.head);
        assert.equal(json(res.body).error.code, 'REQUEST_TIMEOUT');
      }
      await pollUntil(async () => (origin.abandoned.filter((u) => u === '/sha256?idle').length === 2 ? true : undefined), {
        timeoutMs: 10_000,
        what: 'the app to see both requests cut off',
      });
      assert.equal(origin.uploads.length, uploads, 'no shortened body was presented as complete');
      await assertLoggedOnce('body_idle_timeout', { client: '127.0.0.13' });
    });

    it("applies a socket's own limit (socket create/update --max-body-size) and keeps a slow-reading app's upload alive", { timeout: 90_000 }, async () => {
      assert.equal(big.max_body_bytes, 64 * MiB, 'socket create --max-body-size is stored');
      const upload = (size: number, path = '/sha256', seed = 5) =>
        request({ port: edge.port, host: bigHost, method: 'POST', path, headers: { ...withToken(), accept: 'application/json', 'content-length': String(size) }, body: patternStream(size, seed), timeoutMs: 60_000 });

      const above = await upload(4 * MiB);
      assert.equal(above.status, 200, `over the edge default, under the socket's own limit: ${above.body.toString()}`);
      assert.deepEqual(json(above.body), { sha256: patternSha256(4 * MiB, 5), length: 4 * MiB });

      // The app reads nothing for 4 s: backpressure, not an idle client, so the 2 s body timeout must not fire.
      const slow = await upload(24 * MiB, '/sha256?wait=4000', 6);
      assert.equal(slow.status, 200, slow.body.toString());
      assert.deepEqual(json(slow.body), { sha256: patternSha256(24 * MiB, 6), length: 24 * MiB });

      const env = { POSTERN_EDGE: edge.url, POSTERN_TOKEN: token };
      const updated = await runCli(['socket', 'update', big.id, '--max-body-size', '100KiB', '--json'], env);
      assert.equal(updated.code, 0, updated.stderr.join('\n'));
      assert.equal(json(updated.stdout.join('\n')).max_body_bytes, 100 * KiB);
      const refused = await upload(200 * KiB);
      assert.equal(refused.status, 413);
      assert.equal(json(refused.body).error.code, 'BODY_TOO_LARGE');
      assert.equal((await upload(50 * KiB)).status, 200);

      const reset = await runCli(['socket', 'update', big.id, '--max-body-size', 'default', '--json'], env);
      assert.equal(json(reset.stdout.join('\n')).max_body_bytes, null);
      assert.equal((await upload(2 * MiB)).status, 413, "back to the edge's 1 MiB");
      assert.equal((await upload(512 * KiB)).status, 200);

      const bad = await runCli(['socket', 'update', big.id, '--max-body-size', 'lots'], env);
      assert.equal(bad.code, 1);
      assert.match(bad.stderr.join('\n'), /^error: --max-body-size must be a size/);
      for (const value of [0, -1, 'big', 2 ** 41]) {
        const res = await api(edge, token, 'PATCH', `/sockets/${big.id}`, { max_body_bytes: value });
        assert.equal(res.status, 400, `max_body_bytes ${JSON.stringify(value)}: ${JSON.stringify(res.json)}`);
      }
      const openapi = await request({ port: edge.port, host: edge.domain, path: '/api/v1/openapi.json' });
      const doc = json(openapi.body);
      const socketPaths = doc.paths['/sockets'];
      assert.ok(socketPaths.post.requestBody.content['application/json'].schema.properties.max_body_bytes, 'create documents max_body_bytes');
      assert.ok(doc.paths['/sockets/{id}'].patch.requestBody.content['application/json'].schema.properties.max_body_bytes, 'update documents it');
      assert.ok(doc.components.schemas.Socket.properties.max_body_bytes, 'the Socket view documents it');
    });

    it('takes a quick share’s limit from connect --max-body-size', { timeout: 40_000 }, async () => {
      const tiny = await ConnectorProcess.startServing({ edge, token, appPort: origin.port, name: 'tiny', args: ['--max-body-size', '100KiB'], label: 'connect:tiny' });
      try {
        const view = await api(edge, token, 'GET', `/sockets/${tiny.socketId}`);
        assert.equal((view.json as SocketView).max_body_bytes, 100 * KiB);
        const post = (size: number) => request({ port: edge.port, host: tiny.publicHost, method: 'POST', path: '/sha256', body: Buffer.alloc(size, 1) });
        assert.equal((await post(200 * KiB)).status, 413);
        assert.equal((await post(50 * KiB)).status, 200);
      } finally {
        await tiny.stop();
      }
    });
  });

  describe('streams', () => {
    /** Starts `n` requests that the app holds for `ms`, and waits until all reached it. */
    async function hold(n: number, tag: string, from: string, options: { host?: string; headers?: Record<string, string>; ms?: number } = {}) {
      const paths = Array.from({ length: n }, (_, i) => `/slow?ms=${options.ms ?? 5000}&${tag}=${i}`);
      const arrived = Promise.all(paths.map((p) => origin.arrival(p)));
      const answers = paths.map((p) => get(p, from, options.headers ?? {}, options.host ?? web.publicHost));
      await withTimeout(arrived, 10_000, `${n} held requests to reach the app`);
      return answers;
    }

    it('answers 429 TOO_MANY_STREAMS past --max-streams-per-user for one client address of a public socket, not for others', { timeout: 30_000 }, async () => {
      const held = await hold(3, 'user', '127.0.0.5');
      for (let attempt = 0; attempt < 2; attempt++) {
        const refused = await get('/hello?fourth', '127.0.0.5');
        assert.equal(refused.status, 429);
        assert.equal(refused.headers['retry-after'], '1');
        assert.equal(json(refused.body).error.code, 'TOO_MANY_STREAMS');
      }
      assert.equal(origin.requestsTo('/hello?fourth').length, 0);
      assert.equal((await get('/hello', '127.0.0.6')).status, 200, 'another client address is served');
      for (const res of await Promise.all(held)) assert.equal(res.status, 200);
      assert.equal((await get('/hello', '127.0.0.5')).status, 200, 'served again once its requests finished');
      await assertLoggedOnce('streams_per_user', { client: '127.0.0.5', socket: web.socketId });
    });

    it('counts open WebSockets against the same per-user limit', { timeout: 30_000 }, async () => {
      const sockets = await Promise.all([0, 1, 2].map(() => openWebSocket(edge.port, web.publicHost, '/ws')));
      try {
        const refused = await get('/hello?ws-full', '127.0.0.1');
        assert.equal(refused.status, 429);
        assert.equal(json(refused.body).error.code, 'TOO_MANY_STREAMS');
        const closed = closeOf(sockets[0]!);
        sockets[0]!.close();
        await closed;
        const served = await pollUntil(async () => ((await get('/hello?ws-freed', '127.0.0.1')).status === 200 ? true : undefined), {
          timeoutMs: 10_000,
          what: 'a request once a WebSocket closed',
        });
        assert.ok(served);
      } finally {
        for (const ws of sockets) ws.terminate();
      }
    });

    it('keys the per-user limit by identity on a signed-in socket, whatever the address', { timeout: 30_000 }, async () => {
      const held = await hold(3, 'identity', '127.0.0.15', { host: bigHost, headers: withToken() });
      const refused = await get('/hello?same-user', '127.0.0.16', withToken(), bigHost);
      assert.equal(refused.status, 429, 'the same token from another address shares the limit');
      assert.equal(json(refused.body).error.code, 'TOO_MANY_STREAMS');
      for (const res of await Promise.all(held)) assert.equal(res.status, 200);
      assert.equal((await get('/hello', '127.0.0.16', withToken(), bigHost)).status, 200);
    });

    it('answers 503 TUNNEL_BUSY with Retry-After when every tunnel connection carries --max-streams-per-connection streams', { timeout: 30_000 }, async () => {
      const held = [...(await hold(2, 'busy-a', '127.0.0.7')), ...(await hold(2, 'busy-b', '127.0.0.8'))];
      for (let attempt = 0; attempt < 2; attempt++) {
        const busy = await get('/hello?busy', '127.0.0.9');
        assert.equal(busy.status, 503);
        assert.equal(busy.headers['retry-after'], '1');
        assert.equal(json(busy.body).error.code, 'TUNNEL_BUSY');
      }
      assert.equal(origin.requestsTo('/hello?busy').length, 0);
      for (const res of await Promise.all(held)) assert.equal(res.status, 200);
      assert.equal((await get('/hello', '127.0.0.9')).status, 200, 'served once streams are free');
      await assertLoggedOnce('streams_per_connection', { socket: web.socketId });
    });

    it('resets the tunnel stream of an aborted request at once, and refuses a client that aborts too many (429, connection closed)', { timeout: 60_000 }, async () => {
      for (let i = 0; i < 5; i++) {
        const path = `/slow?ms=30000&reset=${i}`;
        const arrived = origin.arrival(path);
        const conn = await openConnection(edge.port, 10_000, '127.0.0.10');
        conn.socket.write(`GET ${path} HTTP/1.1\r\nHost: ${web.publicHost}\r\n\r\n`);
        await withTimeout(arrived, 10_000, 'the request to reach the app');
        conn.socket.destroy();
        // The app would hold it 30 s: seeing it closed now means the edge reset its stream.
        await pollUntil(async () => (origin.abandoned.includes(path) ? true : undefined), { timeoutMs: 10_000, what: `the app to see ${path} cut off` });
      }
      for (let attempt = 0; attempt < 2; attempt++) {
        const refused = await get('/hello?after-resets', '127.0.0.10');
        assert.equal(refused.status, 429);
        assert.equal(json(refused.body).error.code, 'TOO_MANY_RESETS');
        assert.equal(refused.headers.connection, 'close');
        assert.ok(Number(refused.headers['retry-after']) >= 1, `Retry-After: ${refused.headers['retry-after']}`);
      }
      assert.equal(origin.requestsTo('/hello?after-resets').length, 0);
      assert.equal((await get('/hello', '127.0.0.11')).status, 200, 'other clients are served');
      await assertLoggedOnce('client_resets', { client: '127.0.0.10' });
    });
  });

  describe('WebSocket messages', () => {
    it('relays a user WebSocket message larger than any edge limit intact (a flow-controlled byte stream)', { timeout: 30_000 }, async () => {
      const ws = await openWebSocket(edge.port, web.publicHost, '/ws');
      try {
        const payload = Buffer.concat([...patternChunks(2 * MiB, 9)]);
        ws.send(payload);
        const echo = await nextMessage(ws, 20_000);
        assert.ok(echo.isBinary);
        assert.ok(echo.data.equals(payload), 'the 2 MiB message came back byte for byte');
      } finally {
        ws.terminate();
      }
    });

    it('closes a tunnel whose connector sends a message over --tunnel-max-message with 1009, and logs it once', { timeout: 30_000 }, async () => {
      const raw = await createSocket(edge, token, 'raw');
      const tunnel = await openWebSocket(edge.port, edge.domain, '/v1/tunnel', { authorization: `Bearer ${token}`, 'postern-protocol': String(PROTOCOL_VERSION), 'postern-socket': raw.id });
      await nextMessage(tunnel);
      // 100 KiB of valid frames (PINGs) is under the limit: answered, not closed.
      const ping = encodeFrame(FrameType.PING, 0, 0, Buffer.alloc(8));
      tunnel.send(Buffer.concat(Array.from({ length: Math.floor((100 * KiB) / ping.length) }, () => ping)));
      await nextMessage(tunnel);
      const closed = closeOf(tunnel);
      tunnel.send(Buffer.alloc(200 * KiB));
      assert.equal((await closed).code, 1009);
      const line = await assertLoggedOnce('tunnel_message_size', { socket: raw.id });
      assert.equal(line.max, 128 * KiB);
    });
  });

  it('never logged a limit line per byte or request: every limit line is a warning with its limit named', async () => {
    await logBarrier();
    const lines = edge.logs().filter((l) => l.limit !== undefined);
    assert.ok(lines.length >= 9, `limit lines: ${lines.length}`);
    const perKey = new Map<string, number>();
    for (const l of lines) {
      const key = `${String(l.limit)} ${String(l.client ?? '')} ${String(l.socket ?? '')} ${String(l.connection ?? '')}`;
      perKey.set(key, (perKey.get(key) ?? 0) + 1);
    }
    for (const [key, count] of perKey) assert.equal(count, 1, `at most one line a minute for ${key}`);
    assert.equal(edge.logs().filter((l) => l.code === 'TOO_MANY_STREAMS' || l.code === 'TUNNEL_BUSY' || l.code === 'BODY_TOO_LARGE').length, 0, 'no per-request info line for limit refusals');
  });
});
