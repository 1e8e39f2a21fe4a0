import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it, test } from 'node:test';
import { BodyCapture, HEX_HEAD_BYTES, hexHead, viewBody } from '../src/inspector/body.js';
import { captureInto } from '../src/inspector/capture.js';
import { ExchangeLog, exchangeBytes, type CapturedExchange, type InspectedSocket } from '../src/inspector/exchange-log.js';
import { HeaderMask } from '../src/inspector/mask.js';
import { inspectorPage } from '../src/inspector/page.js';
import { replayRefusal } from '../src/inspector/present.js';
import { InspectorServer, TOKEN_HEADER } from '../src/inspector/server.js';

const body = (text: string | Buffer, size?: number) => {
  const bytes = Buffer.from(text);
  return { bytes, size: size ?? bytes.length };
};

const SOCKET: InspectedSocket = { name: 'app', app: { host: '127.0.0.1', port: 1 }, mask: new HeaderMask(['X-Auth-Email']), userHeader: 'x-auth-email' };

function exchange(id: number, over: Partial<CapturedExchange> = {}): CapturedExchange {
  return {
    id,
    socket: SOCKET,
    kind: 'http',
    startedAt: 0,
    durationMs: 1,
    user: null,
    method: 'GET',
    target: '/',
    requestHeaders: ['host', 'a'],
    requestBody: body(''),
    status: 200,
    responseHeaders: [],
    responseBody: body(''),
    error: null,
    ...over,
  };
}

test('body capture: keeps the first bytes up to the limit, copies them, counts the whole size', () => {
  const capture = new BodyCapture(5);
  const frame = Buffer.from('abcdefgh');
  capture.add(frame.subarray(0, 3));
  capture.add(frame.subarray(3));
  frame.fill(0); // the tunnel frame is reused: the capture holds its own copy
  const kept = capture.finish();
  assert.equal(kept.bytes.toString(), 'abcde');
  assert.equal(kept.size, 8);
});

test('body view: text, pretty JSON, binary as size + hex head, encoded bodies, cut UTF-8', () => {
  assert.deepEqual(viewBody(body(''), undefined, undefined), { kind: 'none' });
  assert.deepEqual(viewBody(body('hi'), 'text/plain', undefined), { kind: 'text', text: 'hi', size: 2, truncated: false });
  assert.deepEqual(viewBody(body('{"a":[1]}'), 'application/json; charset=utf-8', undefined), { kind: 'json', text: '{\n  "a": [\n    1\n  ]\n}', size: 9, truncated: false });
  assert.equal(viewBody(body('{"a":'), 'application/problem+json', undefined).kind, 'text', 'invalid JSON is shown as text');
  assert.equal(viewBody(body('{"a":1}', 100), 'application/json', undefined).kind, 'text', 'a cut JSON body is not parsed');
  const png = Buffer.alloc(200, 0x89);
  const view = viewBody(body(png), 'image/png', undefined);
  assert.equal(view.kind, 'binary');
  assert.equal(view.kind === 'binary' && view.size, 200);
  assert.equal(view.kind === 'binary' && view.hex.split(/\s+/).length, HEX_HEAD_BYTES);
  assert.equal(viewBody(body('hello'), 'text/html', 'gzip').kind, 'binary');
  assert.equal(viewBody(body(Buffer.from([0x68, 0x00, 0x69])), undefined, undefined).kind, 'binary', 'control bytes are not text');
  // "é" is two bytes; cut after the first, the text still shows (minus the broken character).
  assert.deepEqual(viewBody(body(Buffer.from('caf\xc3', 'latin1'), 10), 'text/plain', undefined), { kind: 'text', text: 'caf', size: 10, truncated: true });
  assert.equal(hexHead(Buffer.from('HTTP')), '48 54 54 50');
});

test('mask: cookies, credentials, the assertion and the socket identity headers, in any case; off with unmask', () => {
  const mask = new HeaderMask(['X-Team-Email', 'X-Team-User']);
  const shown = mask.show(['Cookie', 'a=b', 'x-team-email', 'a@b.c', 'X-Postern-Assertion', 'eyJ.x.y', 'Authorization', 'Basic x', 'accept', '*/*']);
  assert.deepEqual(shown.map((h) => h.masked), [true, true, true, true, false]);
  assert.equal(shown[4]!.value, '*/*');
  for (const secret of ['a=b', 'a@b.c', 'eyJ', 'Basic']) assert.ok(!JSON.stringify(shown).includes(secret), secret);
  assert.deepEqual(new HeaderMask(['X-Team-Email'], false).show(['cookie', 'a=b']), [{ name: 'cookie', value: 'a=b', masked: false }]);
});

test('exchange log: bounded by count and by bytes, oldest first out, ids only grow', () => {
  const log = new ExchangeLog({ count: 3, bytes: 1_000_000 });
  for (let i = 0; i < 5; i++) log.add(exchange(log.id()));
  assert.deepEqual(log.list().map((x) => x.id), [3, 4, 5]);
  assert.equal(log.get(1), undefined);

  const big = exchange(0, { responseBody: body(Buffer.alloc(4000)) });
  const capped = new ExchangeLog({ count: 100, bytes: exchangeBytes(big) * 2 + 10 });
  for (let i = 0; i < 10; i++) capped.add({ ...big, id: capped.id() });
  assert.equal(capped.length, 2);
  assert.ok(capped.heldBytes <= capped.limits.bytes);
  // One exchange larger than the whole cap is not kept (and evicts nothing).
  capped.add({ ...big, id: capped.id(), responseBody: body(Buffer.alloc(20_000)) });
  assert.deepEqual(capped.list().map((x) => x.id), [9, 10]);
});

test('capture: one record per exchange, with the user from the socket identity header and the failure', () => {
  const log = new ExchangeLog({ count: 10, bytes: 1_000_000 });
  const seen: number[] = [];
  log.watch((x) => seen.push(x.id));
  const observe = captureInto(log, SOCKET, 4);
  const x = observe({ method: 'POST', target: '/a?b=1', headers: ['X-Auth-Email', 'alice@corp.com', 'content-length', '6'] }, 'http')!;
  x.requestBody!(Buffer.from('abcdef'));
  x.response!({ status: 201, headers: ['content-type', 'text/plain'] });
  x.responseBody!(Buffer.from('ok'));
  x.end!(undefined);
  observe({ method: 'GET', target: '/', headers: [] }, 'http')!.end!(new Error('ECONNREFUSED'));
  const [first, second] = log.list();
  assert.equal(first!.user, 'alice@corp.com');
  assert.equal(first!.status, 201);
  assert.equal(first!.requestBody.bytes.toString(), 'abcd');
  assert.equal(first!.requestBody.size, 6);
  assert.match(replayRefusal(first!) ?? '', /larger than the capture limit/);
  assert.equal(second!.status, null);
  assert.equal(second!.error, 'ECONNREFUSED');
  assert.equal(replayRefusal(second!), null);
  assert.deepEqual(seen, [1, 2]);
});

test('page: the socket name and token are escaped, and no script is inline', () => {
  const html = inspectorPage('<script>alert(1)</script>', 'tok"en');
  assert.ok(!html.includes('<script>alert'));
  assert.ok(html.includes('content="tok&quot;en"'));
  assert.deepEqual(html.match(/<script[^>]*>/g), ['<script src="/inspector.js" defer>']);
});

describe('inspector server: Host, token and Origin checks; replay to the app', () => {
  const appSeen: IncomingHttpHeaders[] = [];
  const app = createServer((req, res) => {
    appSeen.push(req.headers);
    res.end(`again ${req.url}`);
  });
  const log = new ExchangeLog({ count: 10, bytes: 1_000_000 });
  let inspector: InspectorServer;
  let port: number;

  before(async () => {
    app.listen(0, '127.0.0.1');
    await once(app, 'listening');
    inspector = await InspectorServer.listen('127.0.0.1', 0, { log, bodyLimit: 1024, title: 'app' });
    port = Number(new URL(inspector.url).port);
    const socket = { ...SOCKET, app: { host: '127.0.0.1', port: (app.address() as AddressInfo).port } };
    log.add(exchange(log.id(), { socket, target: '/x?y=1', requestHeaders: ['host', 'public.example', 'X-Auth-Email', 'a@corp.com'] }));
  });
  after(async () => {
    await inspector.close();
    app.close();
  });

  const call = (method: string, path: string, headers: Record<string, string>) =>
    new Promise<{ status: number; body: string; headers: IncomingHttpHeaders }>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method, path, headers: { host: `127.0.0.1:${port}`, ...headers } }, (res) => {
        let text = '';
        res.setEncoding('utf8').on('data', (c: string) => (text += c)).on('end', () => resolve({ status: res.statusCode!, body: text, headers: res.headers }));
      });
      req.on('error', reject).end();
    });

  it('serves the page with a strict CSP, and data only with the token and our own Host', async () => {
    const page = await call('GET', '/', {});
    assert.equal(page.status, 200);
    assert.match(String(page.headers['content-security-policy']), /script-src 'self'.*frame-ancestors 'none'/);
    assert.ok(page.body.includes(inspector.token));
    assert.equal((await call('GET', '/api/exchanges', {})).status, 403);
    assert.equal((await call('GET', '/api/exchanges', { [TOKEN_HEADER]: 'x'.repeat(inspector.token.length) })).status, 403);
    assert.equal((await call('GET', '/', { host: `attacker.example:${port}` })).status, 421);
    const list = await call('GET', '/api/exchanges', { [TOKEN_HEADER]: inspector.token });
    assert.equal(JSON.parse(list.body).exchanges[0].path, '/x?y=1');
    const one = await call('GET', '/api/exchanges/1', { [TOKEN_HEADER]: inspector.token });
    assert.ok(!one.body.includes('a@corp.com'), 'identity header masked');
  });

  it('replays with the original head (identity included) only from its own Origin', async () => {
    const headers = { [TOKEN_HEADER]: inspector.token, origin: `http://127.0.0.1:${port}` };
    assert.equal((await call('POST', '/api/exchanges/1/replay', { ...headers, origin: 'http://evil.localhost' })).status, 403);
    assert.equal((await call('POST', '/api/exchanges/1/replay', { ...headers, 'sec-fetch-site': 'cross-site' })).status, 403);
    assert.equal(appSeen.length, 0);
    const replayed = await call('POST', '/api/exchanges/1/replay', headers);
    assert.equal(replayed.status, 200);
    const answer = JSON.parse(replayed.body);
    assert.equal(answer.status, 200);
    assert.equal(answer.response.body.text, 'again /x?y=1');
    assert.equal(appSeen[0]!['x-auth-email'], 'a@corp.com');
    assert.equal(appSeen[0]!.host, 'public.example');
    assert.equal((await call('POST', '/api/exchanges/99/replay', headers)).status, 404);
  });
});
