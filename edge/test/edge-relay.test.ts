import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EdgeInfo } from '../src/cluster/edge-lease.js';
import type { Presence } from '../src/cluster/presence.js';
import type { EdgeMetrics } from '../src/observability/metrics.js';
import { EdgeRelay } from '../src/relay/edge-relay.js';
import type { PeerLinks } from '../src/relay/peer-links.js';
import type { StreamCarrier } from '../src/tunnel/carrier.js';

const peer: EdgeInfo = { edgeId: 'edge_b', advertiseUrl: 'http://127.0.0.1:1' };
const carrierOf = (socketId: string) => ({ socketId }) as unknown as StreamCarrier;
const links = { link: async () => ({ carrier: carrierOf }), current: () => undefined } as unknown as PeerLinks;
const metrics = { relayed: () => undefined, relayFailed: () => undefined } as unknown as EdgeMetrics;

/** Presence whose database answers until `down` is set. */
function flakyPresence() {
  const state = { down: false, queries: 0 };
  const presence = {
    locate: async () => {
      state.queries++;
      if (state.down) throw new Error('connect ECONNREFUSED');
      return [peer];
    },
  } as unknown as Presence;
  return { presence, state };
}

test('with the store away, a relay goes where the socket was last seen; never seen, it finds none', async (t) => {
  t.mock.timers.enable({ apis: ['Date'], now: 1_000_000 });
  const { presence, state } = flakyPresence();
  const relay = new EdgeRelay(presence, links, metrics);
  assert.ok(await relay.carrier('sock_1'), 'found while the store answers');
  state.down = true;
  t.mock.timers.tick(5_000); // past the short belief in a location: the next request asks again
  assert.ok(await relay.carrier('sock_1'), 'the last known edge is used while the store is down');
  assert.equal(state.queries, 2, 'the store was asked again, and its failure did not end the relay');
  await assert.rejects(relay.carrier('sock_never_seen'), /ECONNREFUSED/, 'a socket never located is not guessed');
  state.down = false;
  t.mock.timers.tick(5_000);
  assert.ok(await relay.carrier('sock_1'));
  assert.equal(state.queries, 4);
});
