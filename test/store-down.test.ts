import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { after, test } from 'node:test';
import { scrape, probe } from './lib/metrics.js';
import { Origin } from './lib/origin.js';
import { PostgresServer } from './lib/postgres.js';
import { ConnectorProcess, EdgeProcess, api, createAccount, freePort, makeTempDir, type SocketView } from './lib/postern.js';
import { killAll } from './lib/process.js';
import { pollUntil, sleep } from './lib/wait.js';
import { signInLocal, WebClient, type Hop } from './lib/web-client.js';

/**
 * PostgreSQL stopped under a running edge (issue 13, "PostgreSQL down"): the edge fails closed
 * (503 with its own page, never the app), sessions it has cached serve for --store-outage-grace,
 * /readyz and postern_store_up say the store is down, and everything comes back by itself.
 */

const PASSWORD = 'correct horse battery staple';
/** Short, so that one 10 s outage shows both sides of it. */
const GRACE_S = 6;
const tmp = makeTempDir('store-down');
const cleanups: Array<() => Promise<unknown>> = [];

after(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup().catch(() => undefined);
  await killAll();
  tmp.remove();
});

function figure(text: string): void {
  console.log(`figure: ${text}`);
}

/** The edge's own 503 page for a store outage, never the app's answer. */
function assertStorePage(hop: Hop, what: string): void {
  assert.equal(hop.status, 503, `${what}: ${hop.status} ${hop.body.slice(0, 200)}`);
  assert.equal(hop.headers['postern-error'], 'STORE_UNAVAILABLE', what);
  assert.equal(hop.headers['retry-after'], '5', what);
  assert.match(String(hop.headers['content-type']), /^text\/html/, `${what}: the edge's page`);
  assert.match(hop.body, /503 · STORE_UNAVAILABLE/, what);
  assert.doesNotMatch(hop.body, /hello from origin/, `${what}: the app never answered`);
}

const storeUp = async (metricsPort: number) => (await scrape(metricsPort)).value('postern_store_up');

test(
  'PostgreSQL stopped 10 s: the open tunnel keeps serving a cached session within the grace, everything that needs the store gets 503 with the edge page, /readyz and the gauge say so; all back by itself',
  { timeout: 40_000 },
  async () => {
    const server = await PostgresServer.start();
    cleanups.push(() => server.destroy());
    const origin = await Origin.start();
    cleanups.push(() => origin.close());
    const store = await server.createDatabase();
    const token = await createAccount(store, 'sam@example.com', PASSWORD);
    const secretFile = `${tmp.dir}/cluster-secret`;
    writeFileSync(secretFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    const [port, metricsPort] = [await freePort(), await freePort()];
    const edge = await EdgeProcess.start({
      db: store,
      port,
      extraArgs: ['--metrics-listen', `127.0.0.1:${metricsPort}`, '--store-outage-grace', `${GRACE_S}s`, '--cluster-secret-file', secretFile, '--advertise', `http://127.0.0.1:${port}`],
    });
    cleanups.push(() => edge.stop());
    const created = await api(edge, token, 'POST', '/sockets', { name: 'outage', ephemeral: false, cloudauth: true });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const socket = created.json as SocketView;
    const connector = await ConnectorProcess.startServing({ edge, token, appPort: origin.port, socket, label: 'connect:outage' });
    cleanups.push(() => connector.stop());
    const app = `${socket.url}/hello`;

    const cached = new WebClient('cached');
    assert.equal((await signInLocal(cached, edge.url, app, 'sam@example.com', PASSWORD)).body, 'hello from origin');
    assert.deepEqual(await probe(metricsPort, '/readyz'), { status: 200, body: { ok: true } });
    assert.equal(await storeUp(metricsPort), 1);

    await server.stop();
    const stoppedAt = Date.now();
    const ready = await pollUntil(async () => ((await probe(metricsPort, '/readyz')).status === 503 ? probe(metricsPort, '/readyz') : undefined), {
      timeoutMs: 5_000,
      intervalMs: 100,
      what: '/readyz to turn 503',
    });
    assert.match(String(ready.body.reason), /database does not answer/, 'the reason names the store, not the lease');
    assert.equal(await storeUp(metricsPort), 0);

    const served = await cached.fetch(app);
    assert.equal(served.status, 200, `a cached session within the grace is served through the open tunnel: ${served.body.slice(0, 200)}`);
    assert.equal(served.body, 'hello from origin');

    const stranger = new WebClient('stranger');
    stranger.setCookie(app, 'postern_session', randomBytes(32).toString('base64url'));
    assertStorePage(await stranger.fetch(app), 'an unknown session');
    const newcomer = new WebClient('newcomer');
    assertStorePage((await newcomer.navigate(app)).last, 'a new sign-in');

    await sleep(Math.max(0, stoppedAt + GRACE_S * 1000 + 500 - Date.now()));
    assertStorePage(await cached.fetch(app), 'the cached session once the grace is over');
    const metrics = await scrape(metricsPort);
    assert.ok(metrics.value('postern_edge_store_unavailable_total', { via: 'http' }) >= 3, 'refusals are counted');

    await sleep(Math.max(0, stoppedAt + 10_000 - Date.now()));
    await server.resume();
    const resumedAt = Date.now();
    await pollUntil(async () => ((await probe(metricsPort, '/readyz')).status === 200 ? true : undefined), { timeoutMs: 5_000, intervalMs: 100, what: '/readyz back to 200' });
    figure(`store down: /readyz 200 again ${Date.now() - resumedAt} ms after PostgreSQL answered`);
    assert.equal(await storeUp(metricsPort), 1);
    assert.equal((await signInLocal(newcomer, edge.url, app, 'sam@example.com', PASSWORD)).body, 'hello from origin', 'new sign-ins work again');
    assert.equal((await cached.fetch(app)).body, 'hello from origin', 'the cached session is checked against the store again, and lives');
    assert.deepEqual(edge.logs().filter((l) => /^tunnel (disconnected|closed)/.test(l.msg ?? '')), [], 'the tunnel stayed up through the outage');
    assert.equal(edge.logs().filter((l) => l.msg === 'store down: the database does not answer; requests that need it get 503, cached sessions serve for --store-outage-grace').length, 1, 'the outage is logged once');
  },
);
