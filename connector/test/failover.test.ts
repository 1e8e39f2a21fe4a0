import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { after, describe, it } from 'node:test';
import { MuxSession } from '@postern/shared';
import { WebSocketServer } from 'ws';
import { Connector } from '../src/connector.js';

/** A stand-in edge on loopback: accepts every tunnel, greets it (with `peers` when given) and counts what is open. */
class FakeEdge {
  readonly sessions: MuxSession[] = [];
  private readonly sockets = new Set<Socket>();
  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(port = 0, peers?: () => string[]): Promise<FakeEdge> {
    const wss = new WebSocketServer({ noServer: true });
    const server = createServer();
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(port, '127.0.0.1', resolve));
    const edge = new FakeEdge(server, (server.address() as AddressInfo).port);
    edges.push(edge);
    server.on('connection', (socket) => {
      edge.sockets.add(socket);
      socket.once('close', () => edge.sockets.delete(socket));
    });
    server.on('upgrade', (req, socket, head) =>
      wss.handleUpgrade(req, socket, head, (ws) => {
        const session = new MuxSession(ws, { role: 'edge' });
        edge.sessions.push(session);
        const hello = { v: 1 as const, connectionId: `conn_${edge.port}_${edge.sessions.length}`, socket: { id: 'sck_1', name: 'app', hostname: 'app', url: 'http://app' } };
        session.sendHello(peers ? { ...hello, peers: peers() } : hello);
      }),
    );
    return edge;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Tunnel connections open now. */
  get open(): MuxSession[] {
    return this.sessions.filter((s) => !s.closed);
  }

  /** As kill -9: every connection cut, nothing listening any more. */
  async kill(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    if (this.server.listening) await new Promise((resolve) => this.server.close(resolve));
  }
}

const connectors: Connector[] = [];
const edges: FakeEdge[] = [];
after(async () => {
  for (const connector of connectors) await connector.stop(0);
  for (const edge of edges) await edge.kill();
});

function connect(edgeUrls: string[], connections: number, returnProbeMs?: number): Connector {
  const connector = new Connector({
    edgeUrls,
    token: 'pst_test',
    socketId: 'sck_1',
    target: { host: '127.0.0.1', port: 1 },
    connections,
    graceMs: 200,
    connectorId: 'test',
    ...(returnProbeMs ? { returnProbeMs } : {}),
  });
  connector.on('fatal', (err) => assert.fail(`fatal: ${err.message}`));
  connector.start();
  connectors.push(connector);
  return connector;
}

/** Polls `check` every 50 ms for up to `ms`. */
async function waitFor(what: string, check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('a connector with several edges', () => {
  it('spreads its connections over distinct edges, the first N when there are fewer connections', async () => {
    const [a, b] = [await FakeEdge.start(), await FakeEdge.start()];
    const three = connect([a.url, b.url], 3);
    await waitFor('3 connections up', () => three.connectionsUp === 3);
    assert.deepEqual([a.open.length, b.open.length], [2, 1]);
    const one = connect([b.url, a.url], 1);
    await waitFor('1 connection up', () => one.connectionsUp === 1);
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual([a.open.length, b.open.length], [2, 2]);
  });

  it('moves a connection off a killed edge within seconds without touching the others, and moves back when it returns', async () => {
    const [a, b] = [await FakeEdge.start(), await FakeEdge.start()];
    const connector = connect([a.url, b.url], 2, 300);
    const moves: string[] = [];
    connector.on('connection', (e) => e.state === 'up' && moves.push(`${e.slot}@${e.edge}`));
    await waitFor('both up', () => a.open.length === 1 && b.open.length === 1);
    const onB = b.open[0]!;
    const killedAt = Date.now();
    await a.kill();
    await waitFor('both connections on B', () => b.open.length === 2 && connector.connectionsUp === 2, 5_000);
    assert.ok(Date.now() - killedAt < 3_000, `moved after ${Date.now() - killedAt} ms`);
    assert.equal(onB.closed, false, 'the connection on the surviving edge was left alone');
    assert.ok(moves.includes(`0@${b.url}`), moves.join(' '));

    const back = await FakeEdge.start(a.port);
    await waitFor('slot 0 back on A', () => back.open.length === 1 && b.open.length === 1, 5_000);
    assert.equal(onB.closed, false, 'slot 1 never moved');
    assert.equal(connector.connectionsUp, 2);
  });

  it('learns peers from HELLO (trusted ones only) and fails over to them', async () => {
    const b = await FakeEdge.start();
    const a = await FakeEdge.start(0, () => [b.url, 'https://evil.example.net', 'ftp://127.0.0.1:1']);
    const connector = connect([a.url], 2);
    await waitFor('both up on A', () => a.open.length === 2);
    assert.deepEqual(connector.edges.urls, [a.url, b.url]);
    await a.kill();
    await waitFor('both on the peer', () => b.open.length === 2 && connector.connectionsUp === 2, 5_000);
  });
});
