import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveEdgeConfig } from '../src/config.js';
import { HostRouter } from '../src/proxy/router.js';
import { Store } from '../src/store/index.js';

const config = resolveEdgeConfig({ domain: 'localhost:8080' });
const store = await Store.open(':memory:');
const { account } = await store.accounts.ensure('dave@example.com');
const socket = await store.sockets.create({ accountId: account.id, name: 'grafana', ephemeral: false });
const router = new HostRouter(config, store);
// What the edge's change listener does for the router (cluster/change-reactions.ts).
store.cluster.changes.subscribe((event) => event.type === 'change' && event.change.topic === 'socket' && router.forgetSocket(event.change.key));

test('the edge host routes to the edge', async () => {
  assert.deepEqual(router.route('localhost:8080'), { kind: 'edge' });
  assert.deepEqual(router.route('LOCALHOST:8080'), { kind: 'edge' });
});

test('a socket host routes to its socket, case-insensitively; once read, synchronously', async () => {
  const first = router.route(`${socket.hostname.toUpperCase()}.localhost:8080`);
  const route = await first;
  assert.equal(route.kind, 'socket');
  assert.equal(route.kind === 'socket' && route.socket.id, socket.id);
  const again = router.route(`${socket.hostname}.localhost:8080`);
  assert.ok(!(again instanceof Promise), 'a cached socket is routed without waiting');
  assert.equal(again.kind === 'socket' && again.socket.id, socket.id);
});

test('requests waiting for one unread name share one read', async () => {
  let reads = 0;
  const counting = { sockets: { findByHostname: async () => (reads++, socket) } } as unknown as Store;
  const fresh = new HostRouter(config, counting);
  const waiting = Array.from({ length: 5 }, () => fresh.route(`${socket.hostname}.localhost:8080`));
  assert.ok(waiting.every((route) => route instanceof Promise));
  assert.ok((await Promise.all(waiting)).every((route) => route.kind === 'socket'));
  assert.equal(reads, 1);
});

for (const host of [
  undefined,
  '',
  'localhost',
  'localhost:8081',
  `${socket.hostname}.localhost`,
  `${socket.hostname}.localhost:8081`,
  `a.${socket.hostname}.localhost:8080`,
  `${socket.hostname}.evil.localhost:8080`,
  `${socket.hostname}localhost:8080`,
  '.localhost:8080',
  '-x.localhost:8080',
  'nosuch.localhost:8080',
]) {
  test(`an unknown or malformed host is not routed: ${JSON.stringify(host)}`, async () => {
    assert.equal((await router.route(host)).kind, 'unknown');
  });
}

test('a deleted or changed socket is read again: its change evicts it', async () => {
  const temp = await store.sockets.create({ accountId: account.id, name: 'temp', ephemeral: true });
  const host = `${temp.hostname}.localhost:8080`;
  assert.equal((await router.route(host)).kind, 'socket');
  await store.sockets.update(temp.id, { name: 'renamed' });
  const renamed = await router.route(host);
  assert.equal(renamed.kind === 'socket' && renamed.socket.name, 'renamed');
  await store.sockets.delete(temp.id);
  assert.equal((await router.route(host)).kind, 'unknown');
});

test('a name asked for before its socket existed routes once the creating edge forgets the miss', async () => {
  const host = `later-${account.id.slice(0, 6)}.localhost:8080`;
  assert.equal((await router.route(host)).kind, 'unknown');
  const later = await store.sockets.create({ accountId: account.id, name: 'later' });
  assert.equal((await router.route(host)).kind, 'unknown', 'the miss is cached (briefly: other edges wait it out)');
  router.forget(later.hostname);
  assert.equal((await router.route(host)).kind, 'socket');
});
