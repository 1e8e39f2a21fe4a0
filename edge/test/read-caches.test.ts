import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SessionService } from '../src/auth/sessions.js';
import { TokenCache } from '../src/auth/token-cache.js';
import { CompiledPolicies } from '../src/policy/compiled-policies.js';
import { Store } from '../src/store/index.js';
import { ReadCache } from '../src/store/read-cache.js';
import { reactionsFor } from './support/reactions.js';
import { storeAlwaysUp } from './support/outage.js';

test('read cache: a hit is synchronous, concurrent misses share one load, the oldest entry goes past the bound', async () => {
  let loads = 0;
  const cache = new ReadCache<string, string>({ maxEntries: 2, ttlMs: 60_000 });
  const load = (key: string) => async () => (loads++, key.toUpperCase());
  const first = cache.get('a', load('a'));
  const second = cache.get('a', load('a'));
  assert.ok(first instanceof Promise && second instanceof Promise);
  assert.deepEqual(await Promise.all([first, second]), ['A', 'A']);
  assert.equal(loads, 1);
  assert.equal(cache.get('a', load('a')), 'A', 'a hit is the value, not a promise');
  await cache.get('b', load('b'));
  await cache.get('c', load('c'));
  assert.equal(cache.size, 2);
  assert.equal(cache.peek('a'), undefined, 'the oldest went');
  assert.equal(cache.peek('c'), 'C');
});

test('read cache: entries expire after their TTL; a load under way when something is evicted is not kept', async () => {
  let now = 0;
  const cache = new ReadCache<string, string | undefined>({ maxEntries: 10, ttlMs: (v) => (v ? 1_000 : 100), now: () => now });
  cache.set('hit', 'x');
  cache.set('miss', undefined);
  now = 150;
  assert.equal(cache.get('miss', async () => 'fresh') instanceof Promise, true, 'a negative entry is short-lived');
  assert.equal(cache.peek('hit'), 'x');
  now = 1_001;
  assert.equal(cache.peek('hit'), undefined);

  let release!: (value: string) => void;
  const slow = cache.get('row', () => new Promise<string>((resolve) => (release = resolve)));
  cache.delete('row'); // the row changed while it was being read
  release('stale');
  assert.equal(await slow, 'stale', 'its callers still get an answer');
  assert.equal(cache.peek('row'), undefined, 'but it may predate the change: not cached');
});

test('token cache: a hit is synchronous and judged against the clock; a token change evicts; unknown secrets are never kept', async () => {
  const store = await Store.open(':memory:');
  const { account } = await store.accounts.ensure('ci@example.com');
  const { token, record } = await store.tokens.create(account.id, 'ci', Date.now() + 60_000);
  let reads = 0;
  const cache = new TokenCache({ check: (secret, now) => (reads++, store.tokens.check(secret, now)) });
  assert.equal((await cache.check(token)).ok, true);
  const hit = cache.check(token);
  assert.ok(!(hit instanceof Promise) && hit.ok, 'synchronous');
  const later = cache.check(token, Date.now() + 120_000);
  assert.ok(!(later instanceof Promise) && !later.ok && later.reason === 'expired', 'expiry needs no read');
  assert.equal(reads, 1);

  await store.tokens.revoke(record.id);
  const stale = cache.check(token);
  assert.ok(!(stale instanceof Promise) && stale.ok, 'without the change feed the entry would stand (the TTL bounds it)');
  cache.forget(record.id);
  const fresh = await cache.check(token);
  assert.ok(!fresh.ok && fresh.reason === 'revoked');

  for (let i = 0; i < 3; i++) assert.equal((await cache.check(`pst_guess${i}`)).ok, false);
  assert.equal(cache.size, 1, 'only the real token is cached');
  await store.close();
});

test('sessions: a cached session resolves synchronously; its revocation, heard on the feed, evicts it at once', async () => {
  const store = await Store.open(':memory:');
  const user = await store.users.upsert({ issuer: 'https://idp.test', subject: 'ann', email: 'ann@example.com', name: null, groups: [], githubOrgs: [], githubTeams: [] });
  const sessions = new SessionService(store, { absoluteMs: 3_600_000, idleMs: 3_600_000 }, storeAlwaysUp());
  const reactions = reactionsFor(store, { sessions });
  const { handle, record } = await sessions.createLogin(user.id);
  assert.equal((await sessions.resolve(handle, null))?.user.id, user.id);
  const hit = sessions.resolve(handle, null);
  assert.ok(hit !== undefined && !(hit instanceof Promise), 'synchronous once cached');
  assert.equal(sessions.resolve(handle, 'sck_other'), undefined, 'another host: still refused, still synchronous');

  await sessions.signOut(record);
  await reactions.settled();
  const after = sessions.resolve(handle, null);
  assert.ok(after instanceof Promise, 'evicted: read again');
  assert.equal(await after, undefined);
  await reactions.stop();
  await store.close();
});

test('sessions: last-seen times are collected and written for many sessions in one batch, not per request', async () => {
  const store = await Store.open(':memory:');
  const user = await store.users.upsert({ issuer: 'https://idp.test', subject: 'bo', email: 'bo@example.com', name: null, groups: [], githubOrgs: [], githubTeams: [] });
  const sessions = new SessionService(store, { absoluteMs: 3_600_000, idleMs: 3_600_000 }, storeAlwaysUp());
  const logins = await Promise.all(Array.from({ length: 3 }, () => sessions.createLogin(user.id)));
  const later = Date.now() + 120_000;
  for (const { handle } of logins) await sessions.resolve(handle, null, later);
  const seenAt = async () => Promise.all(logins.map(async ({ record }) => (await store.sessions.find(record.idHash))!.lastSeenAt));
  assert.ok((await seenAt()).every((at) => at < later), 'nothing written on the request path');
  const writes: number[] = [];
  const touch = store.sessions.touch.bind(store.sessions);
  store.sessions.touch = async (hashes, now) => (writes.push(hashes.length), touch(hashes, now));
  await sessions.flushTouches(later);
  assert.deepEqual(writes, [3], 'one statement for the three');
  assert.deepEqual(await seenAt(), [later, later, later]);
  await sessions.flushTouches(later);
  assert.deepEqual(writes, [3], 'nothing new seen: nothing written');
  assert.ok(await sessions.isLive(logins[0]!.record.idHash, later + 3_000_000), 'idle is judged from the last time seen');
  await store.close();
});

test('sessions: a touch that could not be written is tried again at the next flush', async () => {
  const store = await Store.open(':memory:');
  const user = await store.users.upsert({ issuer: 'https://idp.test', subject: 'cy', email: 'cy@example.com', name: null, groups: [], githubOrgs: [], githubTeams: [] });
  const sessions = new SessionService(store, { absoluteMs: 3_600_000, idleMs: 3_600_000 }, storeAlwaysUp());
  const { handle, record } = await sessions.createLogin(user.id);
  const later = Date.now() + 120_000;
  await sessions.resolve(handle, null, later);
  const touch = store.sessions.touch.bind(store.sessions);
  store.sessions.touch = async () => {
    throw new Error('store away');
  };
  await assert.rejects(sessions.flushTouches(later), /store away/);
  store.sessions.touch = touch;
  await sessions.flushTouches(later);
  assert.equal((await store.sessions.find(record.idHash))!.lastSeenAt, later);
  await store.close();
});

test('compiled policies: compiled once per revision (then synchronous); a socket change drops the compiled form', async () => {
  const store = await Store.open(':memory:');
  const { account } = await store.accounts.ensure('owner@example.com');
  const socket = await store.sockets.create({ accountId: account.id, name: 'app' });
  const policies = new CompiledPolicies(store);
  const first = policies.of(socket);
  assert.ok(first instanceof Promise, 'the owner is read once');
  const compiled = await first;
  assert.equal(policies.of(socket), compiled, 'then the same compiled form, synchronously');
  const updated = (await store.sockets.update(socket.id, { policy: { version: 1, rules: [], default: { action: 'allow' } } }))!;
  assert.ok(policies.of(updated) instanceof Promise, 'a new revision is compiled afresh');
  policies.forget(socket.id);
  assert.ok(policies.of(socket) instanceof Promise, 'forgotten: compiled again');
  await store.close();
});
