import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { CloseCode } from '@postern/shared';
import { AuditLog } from '../src/audit/audit-log.js';
import { LiveConnections } from '../src/auth/live-connections.js';
import type { FeedEvent } from '../src/cluster/change-feed.js';
import { resolveEdgeConfig } from '../src/config.js';
import { ControlPlane } from '../src/control/control-plane.js';
import { EdgeMetrics } from '../src/observability/metrics.js';
import { CompiledPolicies } from '../src/policy/compiled-policies.js';
import { OpenStreams } from '../src/policy/open-streams.js';
import { HostRouter } from '../src/proxy/router.js';
import { Store } from '../src/store/index.js';
import type { SocketRecord } from '../src/store/sockets.js';
import type { TunnelConnection } from '../src/tunnel/connection.js';
import { TunnelRegistry } from '../src/tunnel/registry.js';
import { quietLog, reactionsFor } from './support/reactions.js';

/** An edge's moving parts on one store, the change listener wired as buildServer wires it. */
async function edgeParts() {
  const store = await Store.open(':memory:');
  const registry = new TunnelRegistry();
  const live = new LiveConnections(async () => true, 3_600_000);
  const router = new HostRouter(resolveEdgeConfig({ domain: 'edge.test' }), store);
  const policies = new CompiledPolicies(store);
  const streams = new OpenStreams(policies, store, () => undefined, 3_600_000);
  const audit = new AuditLog(store.audit, quietLog);
  const control = new ControlPlane(store, registry, router, live, audit, new EdgeMetrics(registry, { up: true }));
  const reactions = reactionsFor(store, { live, router, policies, streams, control });
  const { account } = await store.accounts.ensure('owner@example.com');
  const actor = { email: 'owner@example.com', remote: null };
  /** A stand-in tunnel connection that records how it was closed. */
  const tunnel = (socketId: string, tokenId: string) => {
    const closed: { code: number; reason: string }[] = [];
    const conn = { info: { socketId, tokenId }, session: { closed: false, destroy: (code: number, reason: string) => (closed.push({ code, reason }), registry.remove(conn)) } } as unknown as TunnelConnection;
    registry.add(conn);
    return closed;
  };
  /** A WebSocket-like stream opened with `credential` and let in under `socket` as it was then. */
  const stream = (credential: string, socket: SocketRecord) => {
    const connection = new PassThrough();
    live.add(credential, socket.id, connection);
    streams.track({ socket, identity: null, facts: { path: '/', method: 'GET', ip: null, at: Date.now(), corsPreflight: false }, actor: null }, 'websocket', connection);
    return connection;
  };
  const stop = async () => {
    await reactions.stop();
    streams.stop();
    live.stop();
    audit.stop();
    await store.close();
  };
  return { store, registry, live, router, reactions, control, account, actor, tunnel, stream, stop };
}

test('a published sign-out closes the live streams of every session it ended, and only those', async () => {
  const { store, reactions, stream, account, stop } = await edgeParts();
  const user = await store.users.upsert({ issuer: 'https://idp.test', subject: 'ann', email: 'ann@example.com', name: null, groups: [], githubOrgs: [], githubTeams: [] });
  const socket = await store.sockets.create({ accountId: account.id, name: 'app' });
  const login = await store.sessions.create('login-handle', { userId: user.id, socketId: null, parentHash: null, expiresAt: Date.now() + 60_000 });
  const child = await store.sessions.create('child-handle', { userId: user.id, socketId: socket.id, parentHash: login.idHash, expiresAt: login.expiresAt });
  const other = await store.sessions.create('other-handle', { userId: user.id, socketId: socket.id, parentHash: null, expiresAt: login.expiresAt });
  const childStream = stream(child.idHash, socket);
  const otherStream = stream(other.idHash, socket);
  assert.deepEqual((await store.sessions.revokeTree(login.idHash)).sort(), [login.idHash, child.idHash].sort());
  await reactions.settled();
  assert.equal(childStream.destroyed, true, 'handed off from the login: ended with it');
  assert.equal(otherStream.destroyed, false);
  await stop();
});

test('a published token revocation closes the tunnel connections and streams opened with it', async () => {
  const { store, reactions, control, tunnel, stream, account, actor, stop } = await edgeParts();
  const socket = await store.sockets.create({ accountId: account.id, name: 'app' });
  const { record: token } = await store.tokens.create(account.id, 'ci');
  const { record: kept } = await store.tokens.create(account.id, 'other');
  const closed = tunnel(socket.id, token.id);
  const keptClosed = tunnel(socket.id, kept.id);
  const ws = stream(`token:${token.id}`, socket);
  assert.equal(await control.revokeToken(token, actor), true);
  await reactions.settled();
  assert.deepEqual(closed, [{ code: CloseCode.UNAUTHORIZED, reason: 'token was revoked' }]);
  assert.deepEqual(keptClosed, []);
  assert.equal(ws.destroyed, true);
  await stop();
});

test('a token change that leaves it working closes nothing (changes are re-read, never toggled)', async () => {
  const { store, reactions, tunnel, account, stop } = await edgeParts();
  const socket = await store.sockets.create({ accountId: account.id, name: 'app' });
  const { record: token } = await store.tokens.create(account.id, 'ci');
  const closed = tunnel(socket.id, token.id);
  await store.sql.transaction((tx) => store.cluster.changes.publish(tx, { topic: 'token', key: token.id }));
  await reactions.settled();
  assert.deepEqual(closed, []);
  await stop();
});

test('a deleted socket: its tunnels and streams close and it stops routing; an updated one closes streams only when its rules changed', async () => {
  const { store, reactions, control, router, tunnel, stream, account, actor, stop } = await edgeParts();
  const socket = await store.sockets.create({ accountId: account.id, name: 'app' });
  const host = `${socket.hostname}.edge.test`;
  assert.equal((await router.route(host)).kind, 'socket');

  const ws = stream('session-a', socket);
  const limited = await control.update(socket, { maxBodyBytes: 1024 }, actor, ['max_body_bytes']);
  await reactions.settled();
  assert.equal(ws.destroyed, false, 'a body limit applies to requests, not to an open stream');
  const renamed = await router.route(host);
  assert.equal(renamed.kind === 'socket' && renamed.socket.maxBodyBytes, 1024, 'the router reads the socket again');

  await control.update(limited, { policy: { version: 1, rules: [], default: { action: 'allow', domains: ['example.com'] } } }, actor, ['policy']);
  await reactions.settled();
  assert.equal(ws.destroyed, true, 'new rules: the stream reconnects and is decided again');

  const closed = tunnel(socket.id, 'tok_x');
  const ws2 = stream('session-b', socket);
  await control.delete(socket, actor);
  await reactions.settled();
  assert.deepEqual(closed, [{ code: CloseCode.SOCKET_DELETED, reason: 'socket was deleted' }]);
  assert.equal(ws2.destroyed, true);
  assert.equal((await router.route(host)).kind, 'unknown');
  await stop();
});

test('a reset drops every cache and checks every live credential now', async () => {
  const store = await Store.open(':memory:');
  const calls: string[] = [];
  const note = (name: string) => () => void calls.push(name);
  let emit!: (event: FeedEvent) => void;
  const feed = { ...store.cluster.changes, subscribe: (listener: (event: FeedEvent) => void) => ((emit = listener), () => undefined) };
  const reactions = reactionsFor(Object.assign(Object.create(store) as Store, { cluster: { ...store.cluster, changes: feed } }), {
    sessions: { forget: note('sessions.forget'), forgetUser: note('sessions.forgetUser'), forgetAll: note('sessions') },
    tokens: { forget: note('tokens.forget'), clear: note('tokens') },
    gate: { forgetToken: note('gate.forget'), forgetAll: note('gate') },
    router: { forgetSocket: note('router.forget'), clear: note('router') },
    policies: { forget: note('policies.forget'), clear: note('policies') },
    live: { close: note('live.close'), closeSocket: note('live.closeSocket'), sweep: async () => note('live.sweep')() },
    tunnelCredentials: { sweep: async () => note('tunnels.sweep')() },
    streams: { of: () => [], recheck: async () => note('streams.recheck')() },
  });
  emit({ type: 'reset', reason: 'test' });
  await reactions.settled();
  assert.deepEqual(calls.sort(), ['gate', 'live.sweep', 'policies', 'router', 'sessions', 'streams.recheck', 'tokens', 'tunnels.sweep']);
  await reactions.stop();
  await store.close();
});
