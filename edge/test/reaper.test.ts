import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { CloseCode } from '@postern/shared';
import type { FastifyBaseLogger } from 'fastify';
import { AuditLog } from '../src/audit/audit-log.js';
import { LiveConnections } from '../src/auth/live-connections.js';
import { TunnelCredentialSweep } from '../src/auth/tunnel-credentials.js';
import { resolveEdgeConfig } from '../src/config.js';
import { ControlPlane } from '../src/control/control-plane.js';
import { QuickShareReaper } from '../src/control/reaper.js';
import { EdgeMetrics } from '../src/observability/metrics.js';
import { HostRouter } from '../src/proxy/router.js';
import { Store } from '../src/store/index.js';
import type { TunnelConnection } from '../src/tunnel/connection.js';
import { TunnelRegistry } from '../src/tunnel/registry.js';
import { quietLog, reactionsFor } from './support/reactions.js';

const dir = mkdtempSync(join(tmpdir(), 'postern-reaper-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function setUp(name: string, timeoutMs: number) {
  const store = await Store.open(join(dir, `${name}.db`));
  const registry = new TunnelRegistry(undefined, store.cluster.presence);
  const live = new LiveConnections(async () => true);
  const audit = new AuditLog(store.audit, { error: () => undefined } as unknown as FastifyBaseLogger);
  const control = new ControlPlane(store, registry, new HostRouter(resolveEdgeConfig({}), store), live, audit, new EdgeMetrics(registry, { up: true }));
  const reaper = new QuickShareReaper(store, registry, control, timeoutMs);
  await reaper.stop(); // these tests sweep by hand, at times of their own
  const { account } = await store.accounts.ensure('owner@example.com');
  /** A stand-in tunnel connection: the reaper and control plane read its info and may destroy its session. */
  let connections = 0;
  const connect = (socketId: string, tokenId: string) => {
    const closed: { code: number; reason: string }[] = [];
    const conn = {
      info: { id: `conn_${++connections}`, socketId, tokenId, tunnelId: null },
      session: { destroy: (code: number, reason: string) => (closed.push({ code, reason }), registry.remove(conn)) },
    } as unknown as TunnelConnection;
    registry.add(conn);
    return closed;
  };
  const stop = async () => {
    await reaper.stop();
    await audit.stop();
    live.stop();
    await store.close();
  };
  return { store, registry, control, reaper, live, account, connect, stop, audit };
}

test('a quick share without a connector for the timeout is deleted and audited; served and permanent ones stay', async () => {
  const { store, reaper, account, connect, stop, audit } = await setUp('timeout', 60_000);
  try {
    const orphan = await store.sockets.create({ accountId: account.id, name: 'orphan', ephemeral: true });
    const served = await store.sockets.create({ accountId: account.id, name: 'served', ephemeral: true });
    const permanent = await store.sockets.create({ accountId: account.id, name: 'permanent' });
    const token = (await store.tokens.create(account.id, 'cli')).record;
    connect(served.id, token.id);

    await reaper.sweep(1_000_000);
    assert.equal(reaper.removalAt(orphan.id), 1_060_000, 'the removal time is known from the first sweep that saw it offline');
    assert.equal(reaper.removalAt(served.id), undefined);
    await reaper.sweep(1_059_999);
    assert.ok(await store.sockets.findById(orphan.id), 'not before the timeout (the connector may be reconnecting)');
    await reaper.sweep(1_060_000);
    assert.equal(await store.sockets.findById(orphan.id), undefined);
    assert.ok(await store.sockets.findById(served.id));
    assert.ok(await store.sockets.findById(permanent.id));
    await audit.settled();
    const events = await store.audit.list({ accountId: account.id, socketId: orphan.id, limit: 10 });
    assert.equal(events[0]?.type, 'socket.delete');
    assert.match(String(events[0]?.detail.reason), /without a connector/);
  } finally {
    await stop();
  }
});

test('a connector that comes back in time keeps its quick share, and the clock starts again when it leaves', async () => {
  const { store, registry, reaper, account, connect, stop } = await setUp('back', 60_000);
  try {
    const share = await store.sockets.create({ accountId: account.id, name: 'share', ephemeral: true });
    const token = (await store.tokens.create(account.id, 'cli')).record;
    await reaper.sweep(0);
    connect(share.id, token.id);
    await reaper.sweep(50_000);
    for (const conn of registry.all()) registry.remove(conn);
    await reaper.sweep(70_000);
    assert.ok(await store.sockets.findById(share.id), 'offline since 70 s, not since 0');
    assert.equal(reaper.removalAt(share.id), 130_000);
  } finally {
    await stop();
  }
});

test('a quick share whose connector is on another edge of the cluster stays (presence, not this edge\'s registry)', async () => {
  const { store, reaper, account, stop } = await setUp('elsewhere', 60_000);
  try {
    const share = await store.sockets.create({ accountId: account.id, name: 'elsewhere', ephemeral: true });
    const other = { edgeId: 'edge_other', advertiseUrl: 'http://10.0.0.6:8080' };
    let live = [{ connectionId: 'conn_there', socketId: share.id, tunnelId: null, connectedAt: 0, edge: other }];
    Object.assign(store.cluster.presence, { liveConnections: async () => live });
    await reaper.sweep(0);
    await reaper.sweep(60_000);
    assert.ok(await store.sockets.findById(share.id), 'served on the other edge');
    live = [];
    await reaper.sweep(70_000);
    await reaper.sweep(130_000);
    assert.equal(await store.sockets.findById(share.id), undefined, 'gone from the whole cluster for the timeout');
  } finally {
    await stop();
  }
});

test("an expired token ends its tunnels and removes the quick share they alone served; a revoked one does at once", async () => {
  const { store, control, registry, live, account, connect, stop } = await setUp('tokens', 3600_000);
  const credentials = new TunnelCredentialSweep(registry, store.tokens, (tokenId, reason) => control.endTunnelsOfToken(tokenId, reason), quietLog, 3600_000);
  try {
    const expiring = (await store.tokens.create(account.id, 'short', 1000)).record;
    const other = (await store.tokens.create(account.id, 'other')).record;
    const alone = await store.sockets.create({ accountId: account.id, name: 'alone', ephemeral: true });
    const shared = await store.sockets.create({ accountId: account.id, name: 'shared', ephemeral: true });
    const permanent = await store.sockets.create({ accountId: account.id, name: 'permanent' });
    const aloneClosed = connect(alone.id, expiring.id);
    connect(shared.id, expiring.id);
    connect(shared.id, other.id);
    const permanentClosed = connect(permanent.id, expiring.id);

    await credentials.sweep(expiring.expiresAt! + 1);
    assert.equal(aloneClosed[0]?.code, CloseCode.UNAUTHORIZED);
    assert.match(aloneClosed[0]!.reason, /token expired on .*postern login/);
    assert.equal(permanentClosed.length, 1, 'every tunnel of the token ends');
    assert.equal(await store.sockets.findById(alone.id), undefined, 'its connector cannot delete it any more, so the edge does');
    assert.ok(await store.sockets.findById(shared.id), 'another connector still serves it');
    assert.ok(await store.sockets.findById(permanent.id), 'permanent sockets stay');

    const revoked = (await store.tokens.create(account.id, 'revoked')).record;
    const quick = await store.sockets.create({ accountId: account.id, name: 'quick', ephemeral: true });
    const quickClosed = connect(quick.id, revoked.id);
    const reactions = reactionsFor(store, { live, control, tunnelCredentials: credentials });
    await control.revokeToken(revoked, { email: 'owner@example.com', remote: null });
    await reactions.settled(); // the edge's own change, heard through the feed like any other edge's
    assert.match(quickClosed[0]!.reason, /revoked/);
    assert.equal(await store.sockets.findById(quick.id), undefined, 'removed with the revocation, not at the next sweep');
  } finally {
    credentials.stop();
    await stop();
  }
});
