import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { FastifyBaseLogger } from 'fastify';
import { AuditLog } from '../src/audit/audit-log.js';
import { LiveConnections } from '../src/auth/live-connections.js';
import { resolveEdgeConfig } from '../src/config.js';
import { ControlPlane } from '../src/control/control-plane.js';
import { EphemeralReaper } from '../src/control/reaper.js';
import { EdgeMetrics } from '../src/observability/metrics.js';
import { HostRouter } from '../src/proxy/router.js';
import { Store } from '../src/store/index.js';
import type { TunnelConnection } from '../src/tunnel/connection.js';
import { TunnelRegistry } from '../src/tunnel/registry.js';

const dir = mkdtempSync(join(tmpdir(), 'postern-reaper-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a quick share left without a connector for two sweeps is deleted and audited; others stay', () => {
  const store = Store.open(join(dir, 'reaper.db'));
  const registry = new TunnelRegistry();
  const live = new LiveConnections(() => true);
  const audit = new AuditLog(store.audit, { error: () => undefined } as unknown as FastifyBaseLogger);
  const control = new ControlPlane(store, registry, new HostRouter(resolveEdgeConfig({}), store), live, audit, new EdgeMetrics(registry));
  const reaper = new EphemeralReaper(store, registry, control, 3600_000);
  try {
    const { account } = store.accounts.ensure('owner@example.com');
    const orphan = store.sockets.create({ accountId: account.id, name: 'orphan', ephemeral: true });
    const served = store.sockets.create({ accountId: account.id, name: 'served', ephemeral: true });
    const permanent = store.sockets.create({ accountId: account.id, name: 'permanent' });
    // A stand-in connection: the reaper only asks the registry whether the socket has one.
    registry.add({ info: { socketId: served.id } } as unknown as TunnelConnection);

    reaper.sweep();
    assert.ok(store.sockets.findById(orphan.id), 'one sweep is not enough (the connector may be reconnecting)');
    reaper.sweep();
    assert.equal(store.sockets.findById(orphan.id), undefined);
    assert.ok(store.sockets.findById(served.id));
    assert.ok(store.sockets.findById(permanent.id));
    const events = store.audit.list({ accountId: account.id, socketId: orphan.id, limit: 10 });
    assert.equal(events[0]?.type, 'socket.delete');
    assert.match(String(events[0]?.detail.reason), /without a connector/);
  } finally {
    reaper.stop();
    audit.stop();
    live.stop();
    store.close();
  }
});
