import assert from 'node:assert/strict';
import { EventEmitter } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import type { IncomingMessage } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { after, describe, test } from 'node:test';
import { statusClass } from '@postern/shared';
import Fastify from 'fastify';
import { EdgeHealth } from '../src/observability/health.js';
import { accessLogEnabled, edgeLoggerOptions, loggedPath, redactTokens } from '../src/observability/logging.js';
import { EdgeMetrics } from '../src/observability/metrics.js';
import { StoreHealth } from '../src/observability/store-health.js';
import { assignRequestId, clientRequestId, requestIdOf } from '../src/observability/request-id.js';
import { Store } from '../src/store/index.js';
import { TunnelRegistry } from '../src/tunnel/registry.js';

const dir = mkdtempSync(join(tmpdir(), 'postern-observability-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A Fastify app logging with the edge's options into memory; returns the JSON lines as written. */
function capturingApp() {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      lines.push(...chunk.toString('utf8').split('\n').filter((l) => l !== ''));
      done();
    },
  });
  const app = Fastify({ logger: { ...edgeLoggerOptions('info'), stream }, genReqId: requestIdOf });
  return { app, lines };
}

const fakeRequest = (headers: Record<string, string>) => ({ headers }) as unknown as IncomingMessage;

describe('logging', async () => {
  test('paths are logged without their query string and bounded in length', async () => {
    assert.equal(loggedPath('/auth/callback?code=abc&state=def'), '/auth/callback');
    assert.equal(loggedPath('/plain'), '/plain');
    assert.equal(loggedPath('/?'), '/');
    const long = loggedPath(`/${'a'.repeat(2000)}?x=1`);
    assert.equal(long.length, 512);
    assert.ok(long.endsWith('…'));
  });

  test('Postern tokens are masked anywhere in a line', async () => {
    const token = 'pst_AbC-d_e0123456789abcdefghijklmnopqrstuvwxyzAB';
    assert.equal(redactTokens(`{"msg":"x","a":"${token}","b":"Bearer ${token}, again ${token}"}`), '{"msg":"x","a":"pst_[redacted]","b":"Bearer pst_[redacted], again pst_[redacted]"}');
    const plain = '{"msg":"nothing to hide"}';
    assert.equal(redactTokens(plain), plain, 'lines without a token pass unchanged');
  });

  test('control characters in logged strings stay escaped: one JSON line, intact once parsed', async () => {
    const { app, lines } = capturingApp();
    const nasty = 'a\u001b[31mred\r\n{"level":60,"msg":"forged"}\u0000\u007f';
    app.log.info({ reason: nasty }, 'closed');
    await app.close();
    const line = lines.find((l) => l.includes('"closed"'));
    assert.ok(line, lines.join('\n'));
    assert.ok(!/[\u0000-\u001f]/.test(line), `no raw control character in ${line}`);
    assert.ok(line.includes('a\\u001b[31mred\\r\\n{\\"level\\":60'), line);
    assert.equal((JSON.parse(line) as { reason: string }).reason, nasty);
  });

  test('header objects lose cookies and credentials; request lines have the path only, and a well-formed client id', async () => {
    const { app, lines } = capturingApp();
    app.get('/auth/callback', async (request) => {
      request.log.info({ headers: request.headers }, 'headers seen');
      return 'ok';
    });
    const res = await app.inject({
      method: 'GET',
      url: '/auth/callback?code=SECRETCODE&state=SECRETSTATE',
      headers: { cookie: 'postern_session=SECRETCOOKIE', authorization: 'Bearer SECRETBEARER', 'x-request-id': 'trace-7' },
    });
    assert.equal(res.statusCode, 200);
    await app.close();
    const all = lines.join('\n');
    for (const value of ['SECRETCODE', 'SECRETSTATE', 'SECRETCOOKIE', 'SECRETBEARER']) assert.ok(!all.includes(value), `${value} in ${all}`);
    const incoming = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'incoming request');
    assert.deepEqual(incoming?.req, { method: 'GET', path: '/auth/callback', host: 'localhost:80', remoteAddress: '127.0.0.1', clientRequestId: 'trace-7' });
    assert.notEqual(incoming?.reqId, 'trace-7', 'the client id is not taken as ours');
  });

  test('the access line is written at info and below, not at warn and above', async () => {
    assert.deepEqual(
      (['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'] as const).map(accessLogEnabled),
      [true, true, true, false, false, false, false],
    );
  });
});

describe('request ids', async () => {
  test('the edge gives each request a fresh UUID and keeps it', async () => {
    const a = fakeRequest({});
    const b = fakeRequest({});
    const id = assignRequestId(a);
    assert.match(id, /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    assert.equal(requestIdOf(a), id);
    assert.notEqual(requestIdOf(b), id);
    assert.equal(requestIdOf(b), requestIdOf(b), 'one is given on first use and kept');
  });

  test('a client id is logged only when it is one plain token', async () => {
    const cases: Array<[string, string | undefined]> = [
      ['abc-123', 'abc-123'],
      ['4bf92f3577b34da6a3ce929d0e0e4736', '4bf92f3577b34da6a3ce929d0e0e4736'],
      ['req:1/2+3=4@x.y_z', 'req:1/2+3=4@x.y_z'],
      ['two, values', undefined],
      ['has space', undefined],
      ['tab\there', undefined],
      ['é', undefined],
      ['x'.repeat(129), undefined],
      ['', undefined],
    ];
    for (const [value, want] of cases) assert.equal(clientRequestId(fakeRequest({ 'x-request-id': value })), want, JSON.stringify(value));
    assert.equal(clientRequestId(fakeRequest({})), undefined);
  });
});

describe('metrics', async () => {
  const text = (metrics: EdgeMetrics) => metrics.registry.metrics();

  test('status classes', async () => {
    assert.deepEqual([101, 200, 204, 302, 404, 499, 500, 504, 0, 999].map(statusClass), ['1xx', '2xx', '2xx', '3xx', '4xx', '4xx', '5xx', '5xx', '5xx', '5xx']);
  });

  test('requests count by socket and class, with latency and bytes; WebSocket sessions stay out of the histogram', async () => {
    const metrics = new EdgeMetrics(new TunnelRegistry(), { up: true });
    metrics.requestDone('sck_a', 200, 0.02, 10, 300);
    metrics.requestDone('sck_a', 204, 0.5, 0, 0);
    metrics.requestDone('sck_a', 101, null, 5, 7);
    const out = await text(metrics);
    assert.match(out, /^postern_edge_requests_total\{socket="sck_a",code="2xx"\} 2$/m);
    assert.match(out, /^postern_edge_requests_total\{socket="sck_a",code="1xx"\} 1$/m);
    assert.match(out, /^postern_edge_request_duration_seconds_count\{socket="sck_a"\} 2$/m);
    assert.match(out, /^postern_edge_request_duration_seconds_bucket\{le="0.025",socket="sck_a"\} 1$/m);
    assert.match(out, /^postern_edge_request_bytes_total\{socket="sck_a"\} 15$/m);
    assert.match(out, /^postern_edge_response_bytes_total\{socket="sck_a"\} 307$/m);
  });

  test('only auth refusals count as denials, labelled by code and where', async () => {
    const metrics = new EdgeMetrics(new TunnelRegistry(), { up: true });
    metrics.refused('POLICY_DENIED', 'http');
    metrics.refused('POLICY_DENIED', 'http');
    metrics.refused('TOKEN_EXPIRED', 'tunnel');
    metrics.refused('FORBIDDEN', 'websocket');
    metrics.refused('TUNNEL_OFFLINE', 'http');
    metrics.refused('APP_UNREACHABLE', 'tcp');
    const denials = (await text(metrics)).split('\n').filter((l) => l.startsWith('postern_edge_auth_denials_total{'));
    assert.deepEqual(denials.sort(), [
      'postern_edge_auth_denials_total{reason="forbidden",via="websocket"} 1',
      'postern_edge_auth_denials_total{reason="policy_denied",via="http"} 2',
      'postern_edge_auth_denials_total{reason="token_expired",via="tunnel"} 1',
    ]);
  });

  test('a deleted socket leaves no series, and a late disconnect does not bring one back', async () => {
    const metrics = new EdgeMetrics(new TunnelRegistry(), { up: true });
    metrics.tunnelConnected('sck_gone');
    metrics.tunnelConnected('sck_gone');
    metrics.tunnelConnected('sck_kept');
    metrics.requestDone('sck_gone', 200, 0.01, 1, 1);
    metrics.tunnelDisconnected('sck_kept');
    assert.match(await text(metrics), /^postern_edge_tunnel_connections\{socket="sck_gone"\} 2$/m);
    metrics.forgetSocket('sck_gone');
    metrics.tunnelDisconnected('sck_gone');
    const out = await text(metrics);
    assert.ok(!out.includes('sck_gone'), out);
    assert.match(out, /^postern_edge_tunnel_connections\{socket="sck_kept"\} 0$/m);
    assert.match(out, /^postern_edge_tunnel_connects_total\{socket="sck_kept"\} 1$/m);
  });

  test('sign-ins by provider and result', async () => {
    const metrics = new EdgeMetrics(new TunnelRegistry(), { up: true });
    metrics.signIn('local', true);
    metrics.signIn('corp-sso', false);
    const out = await text(metrics);
    assert.match(out, /^postern_edge_sign_ins_total\{provider="local",result="success"\} 1$/m);
    assert.match(out, /^postern_edge_sign_ins_total\{provider="corp-sso",result="failure"\} 1$/m);
  });
});

describe('health', async () => {
  test('ready while the database answers and the edge is not draining', async () => {
    const store = await Store.open(join(dir, 'health.db'));
    const health = new EdgeHealth(new StoreHealth(() => store.ping()), store.cluster.lease);
    assert.deepEqual(health.live(), { ok: true });
    assert.deepEqual(await health.ready(), { ok: true });
    health.draining = true;
    assert.deepEqual(await health.ready(), { ok: false, reason: 'draining: the edge is shutting down' });
    health.draining = false;
    await store.close();
    assert.deepEqual(await health.ready(), { ok: false, reason: 'the database does not answer' });
    assert.deepEqual(health.live(), { ok: true }, 'liveness does not depend on the database');
  });

  test('a lost cluster lease is its own reason, once the lease was held; the database answering comes first', async () => {
    const lease = Object.assign(new EventEmitter(), { held: false });
    let answers = true;
    const health = new EdgeHealth(new StoreHealth(async () => answers), lease);
    assert.deepEqual(await health.ready(), { ok: true }, 'before the cluster starts there is no lease to lose');
    lease.held = true;
    lease.emit('registered');
    assert.deepEqual(await health.ready(), { ok: true });
    lease.held = false;
    assert.deepEqual(await health.ready(), { ok: false, reason: 'cluster lease lost: the other edges count this one as gone until it registers again' });
    answers = false;
    assert.deepEqual(await health.ready(), { ok: false, reason: 'the database does not answer' }, 'the lease lapses because the store is down: the store is named');
    answers = true;
    lease.held = true;
    assert.deepEqual(await health.ready(), { ok: true }, 'both back: ready again by itself');
  });
});
