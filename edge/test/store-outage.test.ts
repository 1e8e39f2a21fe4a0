import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { StoreOutageGrace } from '../src/auth/outage-grace.js';
import { TunnelCredentialSweep } from '../src/auth/tunnel-credentials.js';
import { SessionService, type ResolvedSession } from '../src/auth/sessions.js';
import { EdgeError } from '../src/errors.js';
import { EdgeMetrics } from '../src/observability/metrics.js';
import { StoreHealth } from '../src/observability/store-health.js';
import { containRequest, ExchangeFault } from '../src/proxy/exchange-faults.js';
import { Store } from '../src/store/index.js';
import { ReadCache } from '../src/store/read-cache.js';
import { randomHandle } from '../src/store/secrets.js';
import { SqlError } from '../src/store/sql/driver.js';
import { isStoreOutage, storeOutageOf } from '../src/store-outage.js';
import { TunnelRegistry } from '../src/tunnel/registry.js';

const dir = mkdtempSync(join(tmpdir(), 'postern-store-outage-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const refused = () => new SqlError('unavailable', 'connect ECONNREFUSED 127.0.0.1:5432');
const MINUTE = 60_000;

/** A store whose ping answers as told: the boundary the monitor sees. */
function fakePing() {
  const state = { answers: true, calls: 0, hang: false };
  const ping = async (): Promise<boolean> => {
    state.calls++;
    if (state.hang) return new Promise<boolean>(() => undefined);
    return state.answers;
  };
  return { state, ping };
}

describe('StoreHealth', () => {
  test('a failed ping marks the store down with its start, an answering one marks it up; each change is one event', async () => {
    const { state, ping } = fakePing();
    let now = 1_000;
    const health = new StoreHealth(ping, { everyMs: 1_000, timeoutMs: 500 }, () => now);
    const events: string[] = [];
    health.on('down', (since: number) => events.push(`down@${since}`)).on('up', (ms: number) => events.push(`up after ${ms}`));
    assert.equal(await health.probe(), true);
    assert.equal(health.up, true);
    state.answers = false;
    assert.equal(await health.probe(), false);
    now = 4_000;
    assert.equal(await health.probe(), false);
    assert.equal(health.up, false);
    assert.equal(health.downSince, 1_000, 'the outage runs from the first failure');
    state.answers = true;
    now = 11_000;
    assert.equal(await health.probe(), true);
    assert.equal(health.downSince, undefined);
    assert.deepEqual(events, ['down@1000', 'up after 10000']);
  });

  test('a query refused because the store is away marks it down at once; other failures do not', () => {
    const health = new StoreHealth(async () => true);
    assert.equal(health.report(new SqlError('unique', 'duplicate key')), false);
    assert.equal(health.report(new Error('bug')), false);
    assert.equal(health.up, true);
    assert.equal(health.report(new ExchangeFault('request', refused())), true, 'found inside the fault that carried it');
    assert.equal(health.up, false);
  });

  test('a ping sent before a query failed cannot clear that failure: no flapping at the start of an outage', async () => {
    let answer: (ok: boolean) => void = () => undefined;
    const health = new StoreHealth(() => new Promise<boolean>((resolve) => (answer = resolve)), { everyMs: 1_000, timeoutMs: 1_000 });
    const downs: number[] = [];
    health.on('down', (since: number) => downs.push(since));
    const early = health.probe();
    health.report(refused());
    answer(true);
    assert.equal(await early, true);
    assert.equal(health.up, false, 'the report stands');
    const later = health.probe();
    answer(true);
    assert.equal(await later, true);
    assert.equal(health.up, true, 'a ping sent after it clears it');
    assert.equal(downs.length, 1);
  });

  test('a ping that hangs counts as down after the timeout, and no second ping starts beside it', async () => {
    const { state, ping } = fakePing();
    state.hang = true;
    const health = new StoreHealth(ping, { everyMs: 1_000, timeoutMs: 30 });
    assert.equal(await health.probe(), false);
    assert.equal(await health.probe(), false);
    assert.equal(state.calls, 1, 'the hung ping is waited for, not repeated');
    assert.equal(health.up, false);
  });

  test('started, it sees an outage and the recovery by itself', async () => {
    const { state, ping } = fakePing();
    const health = new StoreHealth(ping, { everyMs: 10, timeoutMs: 100 });
    health.start();
    try {
      // Bounded, and a timer of its own keeps the test alive (the monitor's timer does not hold a process).
      const next = (event: 'down' | 'up') =>
        new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`no ${event} within 5 s`)), 5_000);
          health.once(event, () => resolve(clearTimeout(timer)));
        });
      state.answers = false;
      await next('down');
      state.answers = true;
      await next('up');
      assert.equal(health.up, true);
    } finally {
      health.stop();
    }
  });
});

describe('store outage answers', () => {
  test('an unavailable SqlError, bare or wrapped, is a 503 STORE_UNAVAILABLE with Retry-After; other errors are not', () => {
    const answer = storeOutageOf(new ExchangeFault('request', refused()));
    assert.ok(answer instanceof EdgeError);
    assert.deepEqual([answer.code, answer.status, answer.headers['retry-after']], ['STORE_UNAVAILABLE', 503, '5']);
    assert.equal(storeOutageOf(answer), answer, 'an answer already made is kept');
    assert.equal(storeOutageOf(new SqlError('other', 'syntax error')), undefined);
    assert.equal(storeOutageOf(new EdgeError('INTERNAL', 'x')), undefined);
    assert.equal(storeOutageOf('not an error'), undefined);
    assert.equal(isStoreOutage(new Error('outer', { cause: new Error('middle', { cause: refused() }) })), true);
  });

  test('containRequest: the store not answering, thrown or rejected, is answered 503 and is not an exchange fault', async () => {
    const faults: ExchangeFault[] = [];
    const answers: string[] = [];
    const fault = (f: ExchangeFault) => faults.push(f);
    const respond = (err: EdgeError) => answers.push(err.code);
    containRequest(() => {
      throw refused();
    }, fault, respond);
    containRequest(() => Promise.reject(refused()), fault, respond);
    containRequest(() => Promise.reject(new Error('a bug')), fault, respond);
    await new Promise((resolve) => setImmediate(resolve));
    assert.deepEqual(answers, ['STORE_UNAVAILABLE', 'STORE_UNAVAILABLE', 'EXCHANGE_FAILED']);
    assert.equal(faults.length, 1, 'only the bug is logged and counted as a fault');
  });

  test('postern_store_up follows the monitor; store refusals are counted by where they happened', async () => {
    const store = { up: true };
    const metrics = new EdgeMetrics(new TunnelRegistry(), store);
    assert.match(await metrics.registry.metrics(), /^postern_store_up 1$/m);
    assert.match(await metrics.registry.metrics(), /^postern_edge_store_unavailable_total\{via="tunnel"\} 0$/m, 'series exist before the first outage');
    store.up = false;
    metrics.refused('STORE_UNAVAILABLE', 'http');
    metrics.refused('STORE_UNAVAILABLE', 'http');
    metrics.refused('STORE_UNAVAILABLE', 'tunnel');
    const text = await metrics.registry.metrics();
    assert.match(text, /^postern_store_up 0$/m);
    assert.match(text, /^postern_edge_store_unavailable_total\{via="http"\} 2$/m);
    assert.match(text, /^postern_edge_store_unavailable_total\{via="tunnel"\} 1$/m);
    assert.doesNotMatch(text, /postern_edge_auth_denials_total\{[^}]*store/, 'an outage is not an auth denial');
  });
});

describe('StoreOutageGrace', () => {
  test('allows cached credentials from the start of the outage for the grace, then refuses with 503', () => {
    let now = 0;
    const health = new StoreHealth(async () => true, undefined, () => now);
    const grace = new StoreOutageGrace(health, 5 * MINUTE);
    assert.equal(grace.storeDown, false);
    assert.equal(grace.allows(10 * MINUTE), true, 'no outage: no limit');
    now = 1 * MINUTE;
    health.report(refused());
    assert.equal(grace.storeDown, true);
    assert.equal(grace.allows(now + 5 * MINUTE - 1), true);
    assert.equal(grace.allows(now + 5 * MINUTE), false);
    assert.equal(grace.refusal().code, 'STORE_UNAVAILABLE');
    assert.equal(grace.holdsDuringOutage(refused(), now + MINUTE), true, 'an open stream lasts the grace');
    assert.equal(grace.holdsDuringOutage(refused(), now + 6 * MINUTE), false, 'then it closes');
    assert.throws(() => grace.holdsDuringOutage(new Error('a bug'), now), /a bug/, 'a failure that is no outage is not hidden');
    assert.equal(grace.cachedOnOutage(refused(), 'cached', now + MINUTE), 'cached');
    assert.throws(() => grace.cachedOnOutage(refused(), undefined, now + MINUTE), SqlError, 'nothing cached: the outage is answered 503 upstream');
    assert.throws(() => grace.cachedOnOutage(refused(), 'cached', now + 6 * MINUTE), SqlError);
  });

  test('a read-through cache: a failed re-check falls back on what it held, then the held entry answers alone until the grace ends', async () => {
    const health = new StoreHealth(async () => true);
    const grace = new StoreOutageGrace(health, 5 * MINUTE);
    let clock = Date.now();
    const cache = new ReadCache<string, string>({ maxEntries: 10, ttlMs: 10_000, now: () => clock });
    assert.equal(await grace.read(cache, 'k', async () => 'fresh', clock), 'fresh');
    const lookups = { count: 0 };
    const down = async (): Promise<string> => {
      lookups.count++;
      throw refused();
    };
    clock += 20_000; // past the entry's TTL: it is read again
    assert.equal(await grace.read(cache, 'k', down, clock), 'fresh', 'the failed re-check falls back on the cache');
    assert.equal(health.up, false, 'the failed query told the monitor');
    assert.equal(grace.read(cache, 'k', down, clock + MINUTE), 'fresh', 'the store known down: answered at once from the cache');
    assert.equal(lookups.count, 1, 'without asking the store again');
    await assert.rejects(async () => grace.read(cache, 'unknown', down, clock + MINUTE), (err: unknown) => storeOutageOf(err)?.status === 503, 'unknown: 503, never let through');
    assert.throws(() => grace.read(cache, 'k', down, (health.downSince ?? 0) + 5 * MINUTE), (err: unknown) => err instanceof EdgeError && err.code === 'STORE_UNAVAILABLE', 'past the grace: 503');
  });

  test('sessions: a cached one serves while the store is down, only on its host; unknown ones never serve', async () => {
    const store = await Store.open(join(dir, 'sessions.db'));
    after(() => store.close());
    const health = new StoreHealth(async () => true);
    const sessions = new SessionService(store, { absoluteMs: 24 * 60 * MINUTE, idleMs: 8 * 60 * MINUTE }, new StoreOutageGrace(health, 5 * MINUTE));
    const user = await store.users.upsert({ issuer: 'https://idp.test', subject: 'alice', email: 'alice@example.com', name: 'Alice', groups: [], githubOrgs: [], githubTeams: [] });
    const t0 = Date.now();
    const { handle } = await sessions.createLogin(user.id, t0);
    assert.equal((await sessions.resolve(handle, null, t0))?.user.id, user.id, 'cached by this lookup');

    // The database goes away (what the table modules throw then: an unavailable SqlError).
    store.sessions.find = async () => {
      throw refused();
    };
    await assert.rejects(async () => sessions.resolve(randomHandle(), null, t0), (err: unknown) => storeOutageOf(err)?.status === 503, 'unknown: 503, never let through');
    assert.equal(health.up, false, 'the failed query told the monitor');
    const during = t0 + 2 * MINUTE; // past the touch interval: no touch is collected while the store is down
    assert.equal((sessions.resolve(handle, null, during) as ResolvedSession | undefined)?.user.id, user.id, 'served from the cache at once');
    assert.equal(sessions.resolve(handle, 'sck_other', during), undefined, 'the cache still only serves the host it was made for');
    const past = (health.downSince ?? 0) + 5 * MINUTE;
    assert.throws(() => sessions.resolve(handle, null, past), (err: unknown) => err instanceof EdgeError && err.code === 'STORE_UNAVAILABLE', 'past the grace: 503');
  });
});

test('tunnels stay up while the database is down: the token sweep ends none and does not throw', async () => {
  const registry = { all: () => [{ info: { id: 'c1', tokenId: 'tok_1', socketId: 'sck_x' }, session: { closed: false } }] };
  const ended: string[] = [];
  const warned: unknown[] = [];
  const end = async (tokenId: string) => void ended.push(tokenId);
  const sweep = new TunnelCredentialSweep(registry as never, { checkById: async () => { throw refused(); } }, end, { info: () => undefined, warn: (o: unknown) => void warned.push(o) }, 60_000);
  try {
    await sweep.sweep();
  } finally {
    sweep.stop();
  }
  assert.deepEqual(ended, []);
  assert.deepEqual(warned, [], 'an outage is no sweep failure');
});
