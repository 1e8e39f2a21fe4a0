import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { request } from './lib/http.js';
import { Origin } from './lib/origin.js';
import { ConnectorProcess, EdgeProcess, createAccount, createSocket, makeTempDir } from './lib/postern.js';
import { killAll } from './lib/process.js';
import { pollUntil, withTimeout } from './lib/wait.js';

const tmp = makeTempDir('resilience');
let origin: Origin;

before(async () => {
  origin = await Origin.start();
});

after(async () => {
  await killAll();
  await origin?.close();
  tmp.remove();
});

/** Status of a GET /hello through the edge, or the error text when the edge could not be reached. */
async function hello(edge: EdgeProcess, host: string, timeoutMs = 5_000): Promise<number | string> {
  try {
    const res = await request({ port: edge.port, host, path: '/hello', timeoutMs });
    return res.status;
  } catch (err) {
    return (err as Error).message.split('\n')[0]!;
  }
}

describe('resilience: two connectors serving one socket', () => {
  let edge: EdgeProcess;
  let token: string;

  before(async () => {
    const db = `${tmp.dir}/two.db`;
    token = await createAccount(db, 'alice@example.com');
    edge = await EdgeProcess.start({ db });
  });

  after(() => edge?.stop().catch(() => undefined));

  it('keeps serving new requests after one of the connectors is killed with SIGKILL', { timeout: 40_000 }, async () => {
    const socket = await createSocket(edge, token, 'shared');
    const host = new URL(socket.url).host;
    const first = await ConnectorProcess.startServing({ edge, token, appPort: origin.port, socket, label: 'connect:first' });
    const second = await ConnectorProcess.startServing({ edge, token, appPort: origin.port, socket, label: 'connect:second' });
    assert.equal(first.socketId, socket.id);
    assert.equal(second.socketId, socket.id);

    // Both connectors hold their (default two) tunnel connections before one of them dies.
    await pollUntil(
      async () => {
        const connected = edge.logs().filter((l) => l.msg === 'tunnel connected' && l.socket === socket.id).length;
        return connected >= 4 ? connected : undefined;
      },
      { timeoutMs: 10_000, what: 'four tunnel connections on the shared socket' },
    );
    const warmup: (number | string)[] = [];
    for (let i = 0; i < 10; i++) warmup.push(await hello(edge, host));
    assert.deepEqual(warmup, Array(10).fill(200));

    const killed = await first.proc.stop('SIGKILL', 5_000);
    assert.equal(killed.signal, 'SIGKILL');

    const statuses: (number | string)[] = [];
    for (let i = 0; i < 20; i++) statuses.push(await hello(edge, host));
    assert.deepEqual(statuses, Array(20).fill(200), `statuses after the kill:\n${edge.proc.stdoutLines.slice(-15).join('\n')}`);
    assert.ok(second.proc.running, 'the surviving connector is still up');
    assert.ok(edge.proc.running, 'the edge is still up');
  });
});

describe('resilience: connector start-up', () => {
  let edge: EdgeProcess;

  after(() => edge?.stop().catch(() => undefined));

  // Regression: the edge sends HELLO right after the 101; when it arrives in the same read as the
  // handshake answer, a connector that attaches its message handler late never sees it, and never
  // prints ready although its tunnels are up.
  it('prints the ready line on every start, even when HELLO arrives with the handshake answer', { timeout: 30_000 }, async () => {
    const db = `${tmp.dir}/startup.db`;
    const token = await createAccount(db, 'erin@example.com');
    edge = await EdgeProcess.start({ db });
    const socket = await createSocket(edge, token, 'startup');
    const starts = 10;
    for (let i = 0; i < starts; i++) {
      const conn = await ConnectorProcess.start({
        edge,
        token,
        appPort: origin.port,
        args: ['--socket', socket.id],
        label: `connect:start-${i}`,
        readyTimeoutMs: 3_000,
      }).catch((err: Error) => {
        const connected = edge.logs().filter((l) => l.msg === 'tunnel connected').length;
        throw new Error(`start ${i + 1} of ${starts} printed no ready line within 3 s although the edge logged ${connected} tunnel connections so far\n${err.message}`);
      });
      await conn.stop();
    }
  });
});

describe('resilience: edge restart', () => {
  let edge: EdgeProcess;

  it('the connector reconnects by itself after the edge restarts on the same port and database', { timeout: 45_000 }, async () => {
    const db = `${tmp.dir}/restart.db`;
    const token = await createAccount(db, 'carol@example.com');
    edge = await EdgeProcess.start({ db });
    const conn = await ConnectorProcess.startServing({ edge, token, appPort: origin.port, name: 'restart' });
    assert.equal(await hello(edge, conn.publicHost), 200);

    const stopped = await edge.stop();
    assert.equal(stopped.code, 0, `the edge exits 0 on SIGTERM\n${edge.proc.output()}`);

    edge = await edge.restart();
    const restartedAt = performance.now();
    await pollUntil(async () => ((await hello(edge, conn.publicHost, 2_000)) === 200 ? true : undefined), {
      timeoutMs: 15_000,
      intervalMs: 250,
      what: `a request through the reconnected connector\n${conn.proc.output()}`,
    });
    const tookMs = performance.now() - restartedAt;
    assert.ok(conn.proc.running, 'the connector did not exit while the edge was away');
    const reconnected = edge.logs().filter((l) => l.msg === 'tunnel connected').length;
    assert.ok(reconnected >= 1, `the new edge saw the connector (${reconnected} connections after ${tookMs.toFixed(0)} ms)`);

    const statuses: (number | string)[] = [];
    for (let i = 0; i < 5; i++) statuses.push(await hello(edge, conn.publicHost));
    assert.deepEqual(statuses, Array(5).fill(200));
    await conn.stop();
  });

  after(() => edge?.stop().catch(() => undefined));
});

describe('resilience: connector SIGTERM drain', () => {
  let edge: EdgeProcess;
  let token: string;

  before(async () => {
    const db = `${tmp.dir}/drain.db`;
    token = await createAccount(db, 'dave@example.com');
    edge = await EdgeProcess.start({ db });
  });

  after(() => edge?.stop().catch(() => undefined));

  it('lets an in-flight request finish, exits 0 with a stopped event, then the socket no longer serves', { timeout: 30_000 }, async () => {
    const conn = await ConnectorProcess.startServing({ edge, token, appPort: origin.port, name: 'drain', args: ['--grace', '5s'] });
    const host = conn.publicHost;
    const arrived = origin.arrival('/slow?ms=1500');
    const inFlight = request({ port: edge.port, host, path: '/slow?ms=1500', timeoutMs: 10_000 });
    await withTimeout(arrived, 5_000, 'the slow request to reach the app');

    conn.proc.signal('SIGTERM');
    const res = await inFlight;
    assert.equal(res.status, 200, res.body.toString());
    assert.equal(res.body.toString(), 'slept 1500 ms');

    const exit = await conn.proc.waitExit(10_000);
    assert.equal(exit.code, 0, conn.proc.output());
    const events = conn.events().map((e) => e.event);
    assert.ok(events.includes('stopping'), `events: ${events.join(', ')}`);
    assert.equal(events.at(-1), 'stopped', `events: ${events.join(', ')}`);
    assert.ok(!conn.proc.stderrLines.some((l) => /error/i.test(l)), conn.proc.output());

    const helloBefore = origin.requestsTo('/hello').length;
    const after = await request({ port: edge.port, host, path: '/hello' });
    assert.ok([502, 404].includes(after.status), `after the drain the socket answers ${after.status}`);
    assert.ok(after.headers['postern-error'], 'the answer is the edge’s own error page');
    assert.equal(origin.requestsTo('/hello').length, helloBefore, 'no later request reached the app');
  });
});
