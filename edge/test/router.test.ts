import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveEdgeConfig } from '../src/config.js';
import { HostRouter } from '../src/proxy/router.js';
import { Store } from '../src/store/index.js';

const config = resolveEdgeConfig({ domain: 'localhost:8080' });
const store = await Store.open(':memory:');
const { account } = await store.accounts.ensure('dave@example.com');
const socket = store.sockets.create({ accountId: account.id, name: 'grafana', ephemeral: false });
const router = new HostRouter(config, store);

test('the edge host routes to the edge', async () => {
  assert.deepEqual(router.route('localhost:8080'), { kind: 'edge' });
  assert.deepEqual(router.route('LOCALHOST:8080'), { kind: 'edge' });
});

test('a socket host routes to its socket, case-insensitively', async () => {
  const route = router.route(`${socket.hostname.toUpperCase()}.localhost:8080`);
  assert.equal(route.kind, 'socket');
  assert.equal(route.kind === 'socket' && route.socket.id, socket.id);
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
    assert.equal(router.route(host).kind, 'unknown');
  });
}

test('a deleted socket stops routing once forgotten', async () => {
  const temp = store.sockets.create({ accountId: account.id, name: 'temp', ephemeral: true });
  assert.equal(router.route(`${temp.hostname}.localhost:8080`).kind, 'socket');
  store.sockets.delete(temp.id);
  router.forget(temp.hostname);
  assert.equal(router.route(`${temp.hostname}.localhost:8080`).kind, 'unknown');
});
