import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { closeOf, nextMessage, openWebSocket, rawUpgrade, request } from './lib/http.js';
import { scrape } from './lib/metrics.js';
import { PostgresServer } from './lib/postgres.js';
import { api, ConnectorProcess, EdgeProcess, freePort, makeTempDir, runCli, type SocketView } from './lib/postern.js';
import { killAll } from './lib/process.js';
import { PythonServer } from './lib/python-server.js';
import { runStdio, sha256, startEchoServer } from './lib/tcp.js';
import { pollUntil } from './lib/wait.js';

/**
 * Two edges as real processes on one real PostgreSQL; the connector is attached to edge 1 only.
 * Requests through edge 2 are routed and policed there, then relayed over the authenticated
 * edge-to-edge link to edge 1, which hands them to its connector: a non-Node app answers them.
 * A third edge with the wrong cluster secret is refused by edge 1 and cannot relay.
 */

const tmp = makeTempDir('cluster-relay');
let server: PostgresServer;
let edge1: EdgeProcess;
let edge2: EdgeProcess;
let impostor: EdgeProcess;
let app: PythonServer;
let host2: string;
let token: string;
let echo: Awaited<ReturnType<typeof startEchoServer>>;
let tcpSocket: SocketView;
const metrics = { edge1: 0, edge2: 0, impostor: 0 };
const blob = randomBytes(3 * 1024 * 1024 + 17);

/** A `postern admin` command on the PostgreSQL store; its output's last line. */
async function admin(url: string, args: string[]): Promise<string> {
  const result = await runCli(['admin', ...args, '--store', url]);
  if (result.code !== 0) throw new Error(`postern admin ${args.join(' ')} failed (${result.code}): ${result.stderr.join('\n')}`);
  return result.stdout.filter((l) => l.trim() !== '').at(-1)!.trim();
}

/** An edge of the cluster on `url`, advertising its own loopback address. */
async function clusterEdge(url: string, secretFile: string, label: string, metricsPort: number): Promise<EdgeProcess> {
  const port = await freePort();
  return EdgeProcess.start({
    db: url,
    port,
    label,
    extraArgs: ['--cluster-secret-file', secretFile, '--advertise', `http://127.0.0.1:${port}`, '--metrics-listen', `127.0.0.1:${metricsPort}`],
  });
}

const relayed = async (port: number, direction: 'in' | 'out') => (await scrape(port)).value('postern_edge_relay_streams_total', { direction });

describe('cluster relay: a request through the edge without the connector is relayed to the edge with it', () => {
  before(async () => {
    server = await PostgresServer.start();
    const url = await server.createDatabase();
    const secret = join(tmp.dir, 'cluster.secret');
    const wrong = join(tmp.dir, 'wrong.secret');
    writeFileSync(secret, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    writeFileSync(wrong, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
    writeFileSync(join(tmp.dir, 'blob.bin'), blob);
    const [m1, m2, m3] = [await freePort(), await freePort(), await freePort()];
    Object.assign(metrics, { edge1: m1, edge2: m2, impostor: m3 });
    // The first edge makes the schema; the others start together.
    edge1 = await clusterEdge(url, secret, 'edge-1', m1);
    [edge2, impostor, app] = await Promise.all([clusterEdge(url, secret, 'edge-2', m2), clusterEdge(url, wrong, 'edge-impostor', m3), PythonServer.start(tmp.dir, true)]);
    await admin(url, ['user', 'add', 'alice@example.com']);
    token = await admin(url, ['token', 'create', 'alice@example.com']);
    echo = await startEchoServer();
    const created = await api(edge1, token, 'POST', '/sockets', { name: 'echo', protocol: 'tcp', ephemeral: false });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    tcpSocket = created.json as SocketView;
    const [conn] = await Promise.all([
      ConnectorProcess.startServing({ edge: edge1, token, appPort: app.port, name: 'web', connections: 2 }),
      ConnectorProcess.startServing({ edge: edge1, token, appPort: echo.port, socket: tcpSocket, label: 'connect:echo' }),
    ]);
    host2 = `${conn.publicHost.split('.')[0]}.${edge2.domain}`;
  });

  after(async () => {
    await killAll();
    await echo?.close();
    await server?.destroy();
    tmp.remove();
  });

  it('answers an HTTP request through edge 2 byte for byte, relayed out by edge 2 and in by edge 1', async () => {
    // Presence is written asynchronously: the connector is findable from edge 2 within moments.
    const res = await pollUntil(
      async () => {
        const r = await request({ port: edge2.port, host: host2, path: '/blob.bin', timeoutMs: 10_000 });
        return r.status === 200 ? r : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 200, what: 'edge 2 to relay the request' },
    );
    assert.equal(res.body.length, blob.length);
    assert.equal(createHash('sha256').update(res.body).digest('hex'), createHash('sha256').update(blob).digest('hex'));
    assert.ok((await relayed(metrics.edge2, 'out')) >= 1, 'edge 2 relayed it out');
    assert.ok((await relayed(metrics.edge1, 'in')) >= 1, 'edge 1 took it in for its connector');
    assert.equal(await relayed(metrics.edge1, 'out'), 0, 'edge 1 had the connector: nothing relayed out');
  });

  it('relays a WebSocket through edge 2: every message echoed exactly by the app', async () => {
    const before = await relayed(metrics.edge1, 'in');
    const ws = await openWebSocket(edge2.port, host2, '/echo');
    for (const size of [1, 125, 126, 65_535, 70_000, 300_000]) {
      const message = randomBytes(size);
      ws.send(message);
      const echoed = await nextMessage(ws);
      assert.ok(echoed.isBinary);
      assert.ok(echoed.data.equals(message), `${size} bytes echoed exactly`);
    }
    ws.send('a text message');
    assert.equal((await nextMessage(ws)).data.toString('utf8'), 'a text message');
    ws.close(1000, 'done');
    assert.equal((await closeOf(ws)).code, 1000);
    assert.equal(await relayed(metrics.edge1, 'in'), before + 1, 'the WebSocket went over the link to edge 1');
  });

  it('relays a postern tcp stream through edge 2: access decided there, bytes carried by edge 1', async () => {
    const before = await relayed(metrics.edge1, 'in');
    const data = randomBytes(700 * 1024);
    const result = await runStdio(['--socket', tcpSocket.hostname.split('.')[0]!], { POSTERN_EDGE: edge2.url, POSTERN_TOKEN: token }, data);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(sha256(result.stdout), sha256(data));
    assert.equal(await relayed(metrics.edge1, 'in'), before + 1);
  });

  it('lists the connections cluster-wide with the edge each is on, from either edge', async () => {
    const fromEdge2 = (await api(edge2, token, 'GET', `/sockets/${tcpSocket.id}`)).json as { online: boolean; connections: number };
    assert.deepEqual([fromEdge2.online, fromEdge2.connections], [true, 2], 'edge 2 counts the connections edge 1 holds');
    const tunnels = (await api(edge2, token, 'GET', '/tunnels')).json as { name: string; status: string; live_connections: { edge_url: string }[] }[];
    const share = tunnels.find((t) => t.name === 'quick share');
    assert.equal(share?.status, 'connected', JSON.stringify(tunnels));
    assert.deepEqual(new Set(share!.live_connections.map((c) => c.edge_url)), new Set([`http://127.0.0.1:${edge1.port}`]), 'on edge 1');
  });

  it('refuses a link made with the wrong secret, or none: the impostor edge cannot reach the connector', async () => {
    const res = await request({ port: impostor.port, host: `${host2.split('.')[0]}.${impostor.domain}`, path: '/blob.bin', timeoutMs: 10_000 });
    assert.equal(res.status, 502, 'no edge would take its link: the app is offline from there');
    assert.equal(res.headers['postern-error'], 'TUNNEL_OFFLINE');
    const refused = (await scrape(metrics.edge1)).value('postern_edge_relay_errors_total', { reason: 'link_bad_mac' });
    assert.ok(refused >= 1, 'edge 1 counted the link it refused');
    assert.ok(edge1.logs().some((l) => l.msg === 'edge-to-edge link refused' && l.reason === 'bad_mac'), 'and logged it');
    const bare = await rawUpgrade(edge1.port, `127.0.0.1:${edge1.port}`, '/v1/cluster/link', {});
    assert.equal(bare.status, 401, 'an upgrade without the link headers is refused');
    assert.equal((await scrape(metrics.edge1)).value('postern_edge_relay_errors_total', { reason: 'link_malformed' }), 1);
  });
});
