import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { request } from './lib/http.js';
import { api, ConnectorProcess, createAccount, createSocket, EdgeProcess, makeTempDir, type ConnectEvent, type SocketView } from './lib/postern.js';
import { killAll } from './lib/process.js';
import { PythonServer } from './lib/python-server.js';
import { pollUntil } from './lib/wait.js';

// One connector, two edges (`--edge A --edge B`). Two SQLite edges are not a cluster, so B gets a
// copy of A's database: the same account, token and socket, each edge counting its own connections.

const tmp = makeTempDir('multi-edge');
let app: PythonServer;

before(async () => {
  writeFileSync(`${tmp.dir}/index.html`, 'served through either edge\n');
  app = await PythonServer.start(tmp.dir);
});

after(async () => {
  await killAll();
  tmp.remove();
});

/** Tunnel connections `edge` holds for the socket, as its API says. */
async function connectionsOn(edge: EdgeProcess, token: string, socketId: string): Promise<number> {
  const res = await api(edge, token, 'GET', `/sockets/${socketId}`);
  assert.equal(res.status, 200, JSON.stringify(res.json));
  return (res.json as { connections: number }).connections;
}

/** GET / of the socket through `edge` (its own authority: each edge serves its --domain). */
async function viaEdge(edge: EdgeProcess, socket: SocketView): Promise<string> {
  const label = socket.hostname.split('.')[0]!;
  const res = await request({ port: edge.port, host: `${label}.${edge.domain}`, path: '/', timeoutMs: 5_000 });
  return `${res.status} ${res.body.toString('utf8').trim()}`;
}

describe('connect --edge A --edge B', () => {
  it('puts one connection on each edge and, when A is killed with SIGKILL, keeps B serving and moves the other to B', { timeout: 30_000 }, async () => {
    const dbA = `${tmp.dir}/a.db`;
    const dbB = `${tmp.dir}/b.db`;
    const token = await createAccount(dbA, 'alice@example.com');
    const a = await EdgeProcess.start({ db: dbA, label: 'edge:a' });
    const socket = await createSocket(a, token, 'shared');
    const source = new Database(dbA, { readonly: true });
    await source.backup(dbB);
    source.close();
    const b = await EdgeProcess.start({ db: dbB, label: 'edge:b' });

    const conn = await ConnectorProcess.start({ edge: a, token, appPort: app.port, args: ['--socket', socket.id, '--edge', a.url, '--edge', b.url, '--connections', '2'] });
    const ups = () => conn.events().filter((e): e is ConnectEvent & { slot: number; edge: string } => e.event === 'connection' && e.state === 'up');
    await pollUntil(async () => (ups().length >= 2 ? true : undefined), { timeoutMs: 10_000, what: () => `both connections up\n${conn.proc.output()}` });
    assert.deepEqual(ups().map((e) => `${e.slot}@${e.edge}`).sort(), [`0@${a.url}`, `1@${b.url}`]);
    assert.ok([a.url, b.url].includes(String(conn.ready!.edge)), `the ready line names its edge: ${JSON.stringify(conn.ready)}`);
    assert.deepEqual([await connectionsOn(a, token, socket.id), await connectionsOn(b, token, socket.id)], [1, 1]);
    assert.deepEqual([await viaEdge(a, socket), await viaEdge(b, socket)], ['200 served through either edge', '200 served through either edge']);

    const killed = await a.proc.stop('SIGKILL', 5_000);
    assert.equal(killed.signal, 'SIGKILL');
    // B serves throughout: its connection is not torn down to reconnect everything.
    const during: string[] = [];
    for (let i = 0; i < 5; i++) during.push(await viaEdge(b, socket));
    assert.deepEqual(during, Array(5).fill('200 served through either edge'));

    const movedAt = Date.now();
    await pollUntil(async () => ((await connectionsOn(b, token, socket.id)) === 2 ? true : undefined), {
      timeoutMs: 8_000,
      intervalMs: 100,
      what: () => `the second connection on B\n${conn.proc.output()}`,
    });
    assert.ok(ups().some((e) => e.slot === 0 && e.edge === b.url), 'slot 0 says it is up on B');
    const bLogs = b.logs().filter((l) => l.socket === socket.id);
    assert.equal(bLogs.filter((l) => l.msg === 'tunnel connected').length, 2);
    assert.equal(bLogs.filter((l) => l.msg === 'tunnel disconnected').length, 0, 'B never lost its first connection');
    assert.ok(conn.proc.running, 'the connector keeps running');
    assert.equal(await viaEdge(b, socket), '200 served through either edge');
    console.log(`second connection on B ${Date.now() - movedAt} ms after the kill was seen`);
    await conn.stop();
    await b.stop();
  });
});
