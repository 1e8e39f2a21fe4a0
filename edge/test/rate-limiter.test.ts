import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RateLimiter, type RateDecision } from '../src/limits/rate-limiter.js';

/** A limiter on a clock the test moves by hand. */
function limiter(count: number, windowMs: number, maxKeys = 100) {
  const clock = { now: 1_000_000 };
  return { clock, limiter: new RateLimiter({ count, windowMs, maxKeys, now: () => clock.now }) };
}

const refused = (d: RateDecision) => (d.allowed ? assert.fail('expected a refusal') : d);

describe('rate limiter (token bucket per key)', () => {
  test('a fresh key passes `count` hits at once and refuses the next, saying when one is back', () => {
    const { limiter: l } = limiter(3, 60_000);
    for (let i = 0; i < 3; i++) assert.equal(l.take('a').allowed, true, `hit ${i + 1}`);
    const d = refused(l.take('a'));
    assert.equal(d.retryAfterMs, 20_000, 'one token comes back every window/count');
  });

  test('keys are independent', () => {
    const { limiter: l } = limiter(2, 60_000);
    l.take('a');
    l.take('a');
    assert.equal(l.take('a').allowed, false);
    assert.equal(l.take('b').allowed, true);
    assert.equal(l.take('b').allowed, true);
    assert.equal(l.take('b').allowed, false);
  });

  test('tokens come back evenly: one per window/count, the whole bucket after a window', () => {
    const { clock, limiter: l } = limiter(3, 60_000);
    for (let i = 0; i < 3; i++) l.take('a');
    clock.now += 19_999;
    assert.equal(refused(l.take('a')).retryAfterMs, 1, 'not yet');
    clock.now += 1;
    assert.equal(l.take('a').allowed, true, 'one back after 20 s');
    assert.equal(l.take('a').allowed, false);
    clock.now += 60_000;
    for (let i = 0; i < 3; i++) assert.equal(l.take('a').allowed, true, `full again: hit ${i + 1}`);
    assert.equal(l.take('a').allowed, false);
  });

  test('a long idle time never fills the bucket beyond `count`', () => {
    const { clock, limiter: l } = limiter(2, 1000);
    l.take('a');
    clock.now += 10 * 3600_000;
    assert.equal(l.take('a').allowed, true);
    assert.equal(l.take('a').allowed, true);
    assert.equal(l.take('a').allowed, false);
  });

  test('a refund gives one hit back, never more than a full bucket', () => {
    const { limiter: l } = limiter(2, 60_000);
    l.take('a');
    l.take('a');
    l.refund('a');
    assert.equal(l.take('a').allowed, true);
    assert.equal(l.take('a').allowed, false);
    l.refund('fresh');
    l.refund('fresh');
    l.take('b');
    for (let i = 0; i < 5; i++) l.refund('b');
    assert.equal(l.take('b').allowed, true);
    assert.equal(l.take('b').allowed, true);
    assert.equal(l.take('b').allowed, false, 'refunds cap at the bucket size');
  });

  test('refusals are flagged for logging once per key per window', () => {
    const { clock, limiter: l } = limiter(1, 10_000);
    l.take('a');
    const flags: boolean[] = [];
    for (let i = 0; i < 5; i++) {
      flags.push(refused(l.take('a')).firstRefusal);
      clock.now += 1000;
    }
    assert.deepEqual(flags, [true, false, false, false, false]);
    clock.now += 10_000; // a window after the first report, and still refusing: report again
    l.take('a');
    assert.equal(refused(l.take('a')).firstRefusal, true);
    assert.equal(refused(l.take('a')).firstRefusal, false);
  });

  test('memory stays bounded: a flood of distinct keys keeps at most maxKeys, forgetting the least recently seen', () => {
    const { limiter: l } = limiter(1, 60_000, 50);
    l.take('victim');
    for (let i = 0; i < 10_000; i++) {
      l.take(`flood-${i}`);
      if (i % 10 === 0) l.take('victim'); // seen often: never the least recent
      assert.ok(l.size <= 50, `size ${l.size} after ${i + 1} keys`);
    }
    assert.ok(l.size >= 45, `only the least recently seen tenth is forgotten at a time (size ${l.size})`);
    assert.equal(l.take('victim').allowed, false, 'a recently seen key keeps its state');
    assert.equal(l.take('flood-0').allowed, true, 'an old key was forgotten (a fresh, full bucket)');
  });

  test('a very long key (kept as its hash) is counted like any other; distinct long keys stay distinct', () => {
    const { limiter: l } = limiter(1, 60_000);
    const long = `${'x'.repeat(8000)}@example.com`;
    assert.equal(l.take(long).allowed, true);
    assert.equal(l.take(long).allowed, false);
    assert.equal(l.take(`${long}.org`).allowed, true, 'a different long key is a different bucket');
  });
});
