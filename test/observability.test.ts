import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { PROTOCOL_VERSION } from '@postern/shared';
import { closeOf, openWebSocket, rawUpgrade, request } from './lib/http.js';
import { probe, scrape, type Scrape } from './lib/metrics.js';
import { Origin } from './lib/origin.js';
import {
  CLI,
  ConnectorProcess,
  EdgeProcess,
  api,
  cleanEnv,
  createAccount,
  createSocket,
  freePort,
  makeTempDir,
  runCli,
  type EdgeLogLine,
  type SocketView,
} from './lib/postern.js';
import { ManagedProcess, killAll } from './lib/process.js';
import { pollUntil, withTimeout } from './lib/wait.js';
import { WebClient } from './lib/web-client.js';

const tmp = makeTempDir('observability');
let origin: Origin;

before(async () => {
  origin = await Origin.start();
});

after(async () => {
  await killAll();
  await origin?.close();
  tmp.remove();
});

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
const HELLO = 'hello from origin';
const DAVE_PASSWORD = `pw-${randomBytes(9).toString('hex')}`;
const secret = (label: string) => `${label}${randomBytes(12).toString('hex')}`;

/** Scrapes until `ready(scrape)` holds (metrics of a request are recorded as its response closes), bounded. */
function scrapeUntil(port: number, ready: (s: Scrape) => boolean, what: string): Promise<Scrape> {
  return pollUntil(
    async () => {
      const s = await scrape(port);
      return ready(s) ? s : undefined;
    },
    { timeoutMs: 20_000, intervalMs: 100, what },
  );
}

describe('observability: edge logs, metrics and probes', () => {
  let edge: EdgeProcess;
  let metricsPort: number;
  let alice: string;
  let bob: string;
  let socket: SocketView;
  let host: string;

  before(async () => {
    const db = `${tmp.dir}/edge.db`;
    alice = await createAccount(db, 'alice@example.com');
    bob = await createAccount(db, 'bob@example.com');
    writeFileSync(`${tmp.dir}/dave.password`, `${DAVE_PASSWORD}\n`, { mode: 0o600 });
    const dave = await runCli(['admin', 'user', 'add', 'dave@example.com', '--db', db, '--password-file', `${tmp.dir}/dave.password`]);
    assert.equal(dave.code, 0, dave.stderr.join('\n'));
    metricsPort = await freePort();
    edge = await EdgeProcess.start({ db, extraArgs: ['--metrics-listen', `127.0.0.1:${metricsPort}`] });
    const created = await api(edge, alice, 'POST', '/sockets', { name: 'watched', ephemeral: false, cloudauth: true });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    socket = created.json as SocketView;
    host = new URL(socket.url).host;
    await ConnectorProcess.startServing({ edge, token: alice, appPort: origin.port, socket, label: 'connect:watched' });
  });

  after(() => edge?.stop().catch(() => undefined));

  const asAlice = () => ({ authorization: `Bearer ${alice}` });
  const get = (path: string, headers: Record<string, string> = {}) => request({ port: edge.port, host, path, headers });
  const requests = (s: Scrape, code: string, socketId = socket.id) => s.value('postern_edge_requests_total', { socket: socketId, code });
  const denials = (s: Scrape, reason: string, via: string) => s.value('postern_edge_auth_denials_total', { reason, via });

  /** The access line of a request, by the id the client got; it is written once the answer closed. */
  function accessLine(id: string): Promise<EdgeLogLine> {
    return pollUntil(async () => edge.logs().find((l) => l.reqId === id && (l.msg === 'request' || l.msg === 'websocket closed')), {
      timeoutMs: 10_000,
      intervalMs: 50,
      what: () => `the access line of ${id}\n${edge.proc.stdoutLines.slice(-10).join('\n')}`,
    });
  }

  it('serves /metrics, /healthz and /readyz on the metrics listener; the public host has the probes but no /metrics', async () => {
    assert.deepEqual(await probe(metricsPort, '/healthz'), { status: 200, body: { ok: true } });
    assert.deepEqual(await probe(metricsPort, '/readyz'), { status: 200, body: { ok: true } });
    const s = await scrape(metricsPort);
    assert.ok(s.has('process_cpu_user_seconds_total') && s.has('nodejs_eventloop_lag_seconds'), 'default process metrics are exported');
    assert.equal((await request({ port: metricsPort, host: `127.0.0.1:${metricsPort}`, path: '/api/v1/sockets' })).status, 404, 'nothing else is served there');

    const publicReady = await request({ port: edge.port, host: edge.domain, path: '/readyz' });
    assert.equal(publicReady.status, 200);
    assert.deepEqual(JSON.parse(publicReady.body.toString('utf8')), { ok: true });
    assert.equal((await request({ port: edge.port, host: edge.domain, path: '/healthz' })).status, 200);
    assert.equal((await request({ port: edge.port, host: edge.domain, path: '/metrics' })).status, 404, 'no metrics on the public listener');
  });

  it('counts requests by socket and status class, with a latency histogram and body bytes', async () => {
    const before = await scrape(metricsPort);
    for (let i = 0; i < 3; i++) {
      const res = await get('/hello', asAlice());
      assert.equal(res.status, 200);
      assert.equal(res.body.toString('utf8'), HELLO);
    }
    const body = randomBytes(1000);
    const upload = await request({ port: edge.port, host, method: 'POST', path: '/sha256', headers: { ...asAlice(), 'content-type': 'application/octet-stream' }, body });
    assert.equal(upload.status, 200);
    const after = await scrapeUntil(metricsPort, (s) => requests(s, '2xx') - requests(before, '2xx') >= 4, 'four more 2xx requests');

    const delta = (name: string, labels: Record<string, string>) => after.value(name, labels) - before.value(name, labels);
    assert.equal(requests(after, '2xx') - requests(before, '2xx'), 4, 'three GETs and one POST, each counted once');
    assert.equal(delta('postern_edge_request_duration_seconds_count', { socket: socket.id }), 4);
    assert.equal(delta('postern_edge_request_duration_seconds_bucket', { socket: socket.id, le: '+Inf' }), 4);
    assert.ok(after.find('postern_edge_request_duration_seconds_bucket', { socket: socket.id, le: '0.1' }), 'the histogram has buckets');
    assert.equal(delta('postern_edge_request_bytes_total', { socket: socket.id }), 1000, 'the upload body');
    assert.equal(delta('postern_edge_response_bytes_total', { socket: socket.id }), 3 * HELLO.length + upload.body.length, 'the answers');
    assert.equal(requests(after, '5xx') - requests(before, '5xx'), 0);
  });

  it('shows live tunnel connections: 2 while a connector runs, 0 after it stops', { timeout: 60_000 }, async () => {
    const gauged = await createSocket(edge, alice, 'gauged');
    const conn = await ConnectorProcess.startServing({ edge, token: alice, appPort: origin.port, socket: gauged, label: 'connect:gauged' });
    const up = await scrapeUntil(metricsPort, (s) => s.value('postern_edge_tunnel_connections', { socket: gauged.id }) === 2, 'two live tunnels');
    assert.equal(up.value('postern_edge_tunnel_connects_total', { socket: gauged.id }), 2);
    assert.equal(up.value('postern_edge_tunnel_streams', { socket: gauged.id }), 0, 'no stream open while idle');
    assert.equal((await conn.stop()).code, 0);
    const down = await scrapeUntil(metricsPort, (s) => s.value('postern_edge_tunnel_connections', { socket: gauged.id }) === 0, 'no live tunnel');
    assert.ok(down.find('postern_edge_tunnel_connections', { socket: gauged.id }), 'the series stays, at 0');
  });

  it('counts auth denials by reason and where, and the access line says who and why', async () => {
    const before = await scrape(metricsPort);
    const denied = await get('/hello', { authorization: `Bearer ${bob}`, accept: 'application/json' });
    assert.equal(denied.status, 403);
    const anonymous = await get('/hello', { accept: 'application/json' });
    assert.equal(anonymous.status, 401);
    await assert.rejects(openWebSocket(edge.port, host, '/ws', { authorization: `Bearer ${bob}` }), /HTTP 403/);
    const tunnel = await rawUpgrade(edge.port, edge.domain, '/v1/tunnel', { authorization: 'Bearer pst_notatoken', 'postern-protocol': String(PROTOCOL_VERSION), 'postern-socket': socket.id });
    assert.equal(tunnel.status, 401);

    const after = await scrapeUntil(metricsPort, (s) => denials(s, 'policy_denied', 'websocket') > denials(before, 'policy_denied', 'websocket'), 'the WebSocket denial');
    assert.equal(denials(after, 'policy_denied', 'http') - denials(before, 'policy_denied', 'http'), 1);
    assert.equal(denials(after, 'unauthorized', 'http') - denials(before, 'unauthorized', 'http'), 1);
    assert.equal(denials(after, 'policy_denied', 'websocket') - denials(before, 'policy_denied', 'websocket'), 1);
    assert.equal(denials(after, 'unauthorized', 'tunnel') - denials(before, 'unauthorized', 'tunnel'), 1);
    assert.ok(requests(after, '4xx') - requests(before, '4xx') >= 3, 'the refusals count as 4xx answers of the socket');

    const line = await accessLine(String(denied.headers['x-request-id']));
    assert.equal(line.status, 403);
    assert.equal(line.error, 'POLICY_DENIED');
    assert.equal(line.user, 'bob@example.com');
    assert.match(String(line.reason), /bob@example\.com is not allowed|only the owner/);
  });

  it('counts browser sign-ins by provider and result', async () => {
    const before = await scrape(metricsPort);
    const signIn = async (password: string) => {
      const browser = new WebClient('dave');
      const form = await browser.fetch(`${edge.url}/auth/start/local`);
      const tx = /name="tx" value="([^"]+)"/.exec(form.body)?.[1];
      assert.ok(tx, form.body);
      return browser.fetch(`${edge.url}/auth/local`, { method: 'POST', form: { tx, email: 'dave@example.com', password } });
    };
    assert.equal((await signIn('not the password')).status, 401);
    assert.equal((await signIn(DAVE_PASSWORD)).status, 302);
    const after = await scrape(metricsPort);
    const signIns = (s: Scrape, result: string) => s.value('postern_edge_sign_ins_total', { provider: 'local', result });
    assert.equal(signIns(after, 'failure') - signIns(before, 'failure'), 1);
    assert.equal(signIns(after, 'success') - signIns(before, 'success'), 1);
    const output = edge.proc.stdoutLines.join('\n');
    assert.ok(!output.includes(DAVE_PASSWORD) && !output.includes('not the password'), 'passwords are never logged');
  });

  it('gives every request an id: in the answer, to the app in place of a client-sent one, on each of its log lines', async () => {
    const res = await get('/headers', { ...asAlice(), 'X-Request-Id': 'client-id-42', x_request_id: 'smuggled' });
    assert.equal(res.status, 200);
    const id = String(res.headers['x-request-id']);
    assert.match(id, UUID, 'the edge makes its own id');
    const seen = JSON.parse(res.body.toString('utf8')) as { headers: Record<string, string>; rawHeaders: string[] };
    assert.equal(seen.headers['x-request-id'], id, 'the app gets the same id');
    const idHeaders = seen.rawHeaders.filter((_, i) => i % 2 === 0 && /^x[-_]request[-_]id$/i.test(seen.rawHeaders[i]!));
    assert.equal(idHeaders.length, 1, `one request-id header reaches the app: ${JSON.stringify(seen.rawHeaders)}`);

    const line = await accessLine(id);
    assert.deepEqual(
      { method: line.method, host: line.host, path: line.path, status: line.status, socket: line.socket, user: line.user, clientRequestId: line.clientRequestId },
      { method: 'GET', host, path: '/headers', status: 200, socket: socket.id, user: 'alice@example.com', clientRequestId: 'client-id-42' },
    );
    assert.equal(line.level, 30, 'at info');
    assert.ok(typeof line.durationMs === 'number' && typeof line.bytesIn === 'number' && Number(line.bytesOut) === res.body.length);
    assert.equal(edge.logs().filter((l) => l.reqId === id).length, 1, 'one line per proxied request');

    // The edge's own host (Fastify routes): the same id in the answer and on its request lines.
    const own = await request({ port: edge.port, host: edge.domain, path: '/api/v1/sockets', headers: { ...asAlice(), 'x-request-id': 'client-id-43' } });
    assert.equal(own.status, 200);
    const ownId = String(own.headers['x-request-id']);
    assert.match(ownId, UUID);
    const ownLines = await pollUntil(async () => {
      const lines = edge.logs().filter((l) => l.reqId === ownId);
      return lines.some((l) => l.msg === 'request completed') ? lines : undefined;
    }, { timeoutMs: 10_000, intervalMs: 50, what: 'the lines of the API request' });
    const incoming = ownLines.find((l) => l.msg === 'incoming request');
    assert.deepEqual(incoming?.req, { method: 'GET', path: '/api/v1/sockets', host: edge.domain, remoteAddress: '127.0.0.1', clientRequestId: 'client-id-43' });
    assert.ok(!edge.logs().some((l) => l.reqId === 'client-id-42' || l.reqId === 'client-id-43'), 'a client id is never used as ours');

    // Refusals and WebSockets carry one too.
    const unknown = await request({ port: edge.port, host: `nosuch.${edge.domain}`, path: '/' });
    assert.equal(unknown.status, 404);
    const unknownLine = await accessLine(String(unknown.headers['x-request-id']));
    assert.equal(unknownLine.error, 'SOCKET_NOT_FOUND');
    assert.equal(unknownLine.socket, null);
    const upgraded = await rawUpgrade(edge.port, host, '/ws', asAlice());
    assert.equal(upgraded.status, 101);
    const wsId = String(upgraded.headers['x-request-id']);
    assert.match(wsId, UUID);
    if ('socket' in upgraded) upgraded.socket.destroy();
    const wsLine = await accessLine(wsId);
    assert.equal(wsLine.msg, 'websocket closed');
    assert.equal(wsLine.status, 101);
  });

  it('never logs query strings, cookies, Authorization, Postern tokens, OAuth codes and states, or passwords', async () => {
    const secrets = {
      code: secret('oauthcode'),
      state: secret('oauthstate'),
      handoff: secret('handoff'),
      cookie: secret('cookie'),
      basic: secret('basic'),
      userCode: secret('usercode'),
      password: secret('password'),
      query: secret('query'),
    };
    const cookie = `postern_session=${secrets.cookie}; theme=${secrets.cookie}`;
    const last = await get(`/hello?code=${secrets.code}&state=${secrets.state}&q=${secrets.query}`, { ...asAlice(), cookie, 'x-request-id': alice });
    assert.equal(last.status, 200);
    const statuses = [
      (await get(`/.postern/callback?code=${secrets.handoff}`, { cookie })).status,
      (await get('/hello', { authorization: `Basic ${Buffer.from(`alice:${secrets.basic}`).toString('base64')}`, accept: 'application/json' })).status,
      (await get('/hello', { authorization: `Bearer ${bob}`, accept: 'application/json' })).status,
      (await request({ port: edge.port, host: edge.domain, path: `/auth/callback?code=${secrets.code}&state=${secrets.state}`, headers: { cookie } })).status,
      (await request({ port: edge.port, host: edge.domain, path: `/device?code=${secrets.userCode}`, headers: { cookie } })).status,
      (await request({
        port: edge.port,
        host: edge.domain,
        method: 'POST',
        path: '/auth/local',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
        body: Buffer.from(`tx=${secrets.state}&email=alice%40example.com&password=${secrets.password}`),
      })).status,
    ];
    const lastOwn = await request({ port: edge.port, host: edge.domain, path: `/api/v1/sockets?token=${secrets.query}`, headers: asAlice() });
    assert.equal(lastOwn.status, 200);
    assert.ok(statuses.every((s) => s >= 200 && s < 500), `every request was answered: ${statuses.join(', ')}`);
    const line = await accessLine(String(last.headers['x-request-id']));
    assert.equal(line.path, '/hello', 'the path is logged, without its query');
    assert.equal(line.clientRequestId, 'pst_[redacted]', 'a token anywhere in a line is masked');
    // Every request above has been logged once the last one's "request completed" line is there.
    await pollUntil(async () => edge.logs().find((l) => l.reqId === lastOwn.headers['x-request-id'] && l.msg === 'request completed'), {
      timeoutMs: 10_000,
      what: 'the last request to be logged',
    });

    const output = [...edge.proc.stdoutLines, ...edge.proc.stderrLines].join('\n');
    for (const [name, value] of Object.entries({ ...secrets, aliceToken: alice, bobToken: bob })) {
      assert.ok(!output.includes(value), `the ${name} secret appears in the edge output`);
    }
    assert.deepEqual(output.match(/pst_[A-Za-z0-9_-]+/g)?.filter((m) => m !== 'pst_') ?? [], [], 'no Postern token at all');
    assert.ok(!/code=|state=/.test(output), 'no query string');
  });

  it('keeps control characters escaped: a connector close reason with ESC, CR and LF stays in its JSON line', async () => {
    const forged = '{"level":60,"msg":"forged line"}';
    const reason = `bye\u001b[31m\r\n${forged}`;
    const ws = await openWebSocket(edge.port, edge.domain, '/v1/tunnel', { authorization: `Bearer ${alice}`, 'postern-protocol': String(PROTOCOL_VERSION), 'postern-socket': socket.id });
    const closed = closeOf(ws);
    ws.close(1000, reason);
    await closed;
    const line = await pollUntil(async () => edge.proc.stdoutLines.find((l) => l.includes('"tunnel disconnected"') && l.includes('bye')), {
      timeoutMs: 10_000,
      what: 'the tunnel disconnected line',
    });
    assert.ok(line.includes('bye\\u001b[31m\\r\\n{\\"level\\":60'), `escaped in the raw line: ${line}`);
    assert.equal((JSON.parse(line) as EdgeLogLine).reason, reason, 'and intact once parsed');
    // A path can carry them only percent-encoded (Node refuses raw ones); it is logged as received.
    const res = await get('/esc%1B%0D%0Ainjected', asAlice());
    assert.equal((await accessLine(String(res.headers['x-request-id']))).path, '/esc%1B%0D%0Ainjected');
    for (const raw of [...edge.proc.stdoutLines, ...edge.proc.stderrLines]) {
      assert.ok(!/[\u0000-\u001f\u007f]/.test(raw), `a raw control character in ${JSON.stringify(raw)}`);
      if (raw.startsWith('{')) assert.notEqual((JSON.parse(raw) as EdgeLogLine).msg, 'forged line');
    }
  });

  it('turns /readyz to 503 on SIGTERM while an in-flight request finishes, then exits 0', { timeout: 60_000 }, async () => {
    assert.equal((await probe(metricsPort, '/readyz')).status, 200);
    const arrived = origin.arrival('/slow');
    const slow = request({ port: edge.port, host, path: '/slow?ms=4000', headers: asAlice(), timeoutMs: 30_000 });
    await withTimeout(arrived, 10_000, 'the slow request to reach the app');
    edge.proc.signal('SIGTERM');
    const draining = await pollUntil(
      async () => {
        const ready = await probe(metricsPort, '/readyz');
        return ready.status === 503 ? ready : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 50, what: '/readyz to turn 503' },
    );
    assert.match(String(draining.body.reason), /draining/);
    assert.equal((await probe(metricsPort, '/healthz')).status, 200, 'still alive while draining');
    const done = await slow;
    assert.equal(done.status, 200, 'the in-flight request finished');
    assert.equal(done.body.toString('utf8'), 'slept 4000 ms');
    assert.equal((await edge.proc.waitExit(20_000)).code, 0, edge.proc.output());
    await assert.rejects(probe(metricsPort, '/readyz'), 'the metrics listener closes with the edge');
  });
});

describe('observability: connector --metrics', () => {
  it('reports 503 while it cannot reach the edge yet', { timeout: 30_000 }, async () => {
    // An "edge" that accepts connections and never answers: the connector is stuck starting.
    const held: Socket[] = [];
    const blackHole = createServer((s) => held.push(s));
    await new Promise<void>((resolve) => blackHole.listen(0, '127.0.0.1', resolve));
    const holePort = (blackHole.address() as { port: number }).port;
    const metricsPort = await freePort();
    const conn = new ManagedProcess(
      'connect:black-hole',
      process.execPath,
      [CLI, 'connect', '--port', String(origin.port), '--socket', 'sck_unreachable', '--json', '--metrics', String(metricsPort)],
      cleanEnv({ POSTERN_EDGE: `http://127.0.0.1:${holePort}`, POSTERN_TOKEN: 'pst_unused' }),
    );
    try {
      const health = await pollUntil(async () => probe(metricsPort, '/healthz'), { timeoutMs: 15_000, intervalMs: 100, what: () => `the connector metrics port\n${conn.output()}` });
      assert.equal(health.status, 503);
      assert.match(String(health.body.reason), /no tunnel/);
      assert.equal((await probe(metricsPort, '/readyz')).status, 503);
      assert.equal((await scrape(metricsPort)).value('postern_connector_tunnel_connections'), 0);
    } finally {
      await conn.stop('SIGKILL', 5_000);
      for (const s of held) s.destroy();
      blackHole.close();
    }
  });

  it('counts tunnels, requests, bytes and app dial errors; /healthz follows the edge going away and coming back', { timeout: 90_000 }, async () => {
    const db = `${tmp.dir}/connector.db`;
    const token = await createAccount(db, 'carol@example.com');
    let edge = await EdgeProcess.start({ db });
    try {
      const served = await createSocket(edge, token, 'served');
      const metricsPort = await freePort();
      await ConnectorProcess.startServing({ edge, token, appPort: origin.port, socket: served, args: ['--metrics', `127.0.0.1:${metricsPort}`], label: 'connect:metrics' });
      const up = await scrapeUntil(metricsPort, (s) => s.value('postern_connector_tunnel_connections') === 2, 'two tunnel connections up');
      assert.equal(up.value('postern_connector_reconnects_total'), 0);
      assert.deepEqual(await probe(metricsPort, '/healthz'), { status: 200, body: { ok: true } });
      assert.deepEqual(await probe(metricsPort, '/readyz'), { status: 200, body: { ok: true } });

      const host = new URL(served.url).host;
      for (let i = 0; i < 2; i++) assert.equal((await request({ port: edge.port, host, path: '/hello' })).status, 200);
      // Request events arrive as requests finish; bytes are counted as each stream to the app closes (idle ones after a few seconds).
      const counted = await scrapeUntil(
        metricsPort,
        (s) => s.value('postern_connector_requests_total', { code: '2xx' }) === 2 && s.value('postern_connector_app_bytes_total', { direction: 'from_app' }) > 0,
        'two 2xx requests and their bytes',
      );
      assert.ok(counted.value('postern_connector_app_bytes_total', { direction: 'to_app' }) > 0);
      assert.ok(counted.has('postern_connector_streams') && counted.has('process_resident_memory_bytes'));

      // A connector whose app is not listening: the edge answers 502 and the connector counts the dial error.
      const downPort = await freePort();
      const dead = await createSocket(edge, token, 'dead');
      const deadMetrics = await freePort();
      await ConnectorProcess.startServing({ edge, token, appPort: downPort, socket: dead, args: ['--metrics', String(deadMetrics)], label: 'connect:dead' });
      const failed = await request({ port: edge.port, host: new URL(dead.url).host, path: '/hello' });
      assert.equal(failed.status, 502);
      await scrapeUntil(deadMetrics, (s) => s.value('postern_connector_app_dial_errors_total', { code: 'ECONNREFUSED' }) >= 1, 'the dial error');

      assert.equal((await edge.stop()).code, 0);
      const gone = await pollUntil(
        async () => {
          const health = await probe(metricsPort, '/healthz');
          return health.status === 503 ? health : undefined;
        },
        { timeoutMs: 15_000, intervalMs: 100, what: 'connector /healthz to turn 503 after the edge left' },
      );
      assert.match(String(gone.body.reason), /no tunnel connection/);
      assert.ok((await scrape(metricsPort)).value('postern_connector_reconnects_total') >= 1);

      edge = await edge.restart();
      await pollUntil(async () => ((await probe(metricsPort, '/healthz')).status === 200 ? true : undefined), {
        timeoutMs: 20_000,
        intervalMs: 100,
        what: 'connector /healthz to be 200 again',
      });
      assert.equal((await scrapeUntil(metricsPort, (s) => s.value('postern_connector_tunnel_connections') === 2, 'both tunnels back')).value('postern_connector_tunnel_connections'), 2);
    } finally {
      await edge.stop().catch(() => undefined);
    }
  });
});
