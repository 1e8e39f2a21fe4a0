import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { FastifyBaseLogger } from 'fastify';
import { resolveEdgeConfig } from '../src/config.js';
import { EdgeError } from '../src/errors.js';
import { addressKey, RateLimits, waitInWords, type RateLimitName } from '../src/limits/rate-limits.js';

/** The edge's limits from real config flags, on a hand-moved clock, with warn lines recorded. */
function limits(rates: Partial<Record<RateLimitName, string>>) {
  // The flag of limit `loginPerEmail` is --rate-login-per-email: its setting is `rateLoginPerEmail`.
  const flags = Object.fromEntries(Object.entries(rates).map(([name, rate]) => [`rate${name[0]!.toUpperCase()}${name.slice(1)}`, rate]));
  const clock = { now: 5_000_000 };
  const warnings: { fields: Record<string, unknown>; msg: string }[] = [];
  const log = { warn: (fields: Record<string, unknown>, msg: string) => warnings.push({ fields, msg }) } as unknown as FastifyBaseLogger;
  return { clock, warnings, limits: new RateLimits(resolveEdgeConfig(flags).rateLimits, log, () => clock.now) };
}

describe('the edge rate limits', () => {
  test('a refusal is a 429 RATE_LIMITED error with Retry-After in whole seconds and words a person understands', () => {
    const { limits: l } = limits({ loginPerEmail: '2/1m' });
    assert.equal(l.take(['loginPerEmail', 'bob@example.com']), undefined);
    assert.equal(l.take(['loginPerEmail', 'bob@example.com']), undefined);
    const err = l.take(['loginPerEmail', 'bob@example.com']);
    assert.ok(err instanceof EdgeError);
    assert.equal(err.code, 'RATE_LIMITED');
    assert.equal(err.status, 429);
    assert.equal(err.headers['retry-after'], '30');
    assert.equal(err.message, 'Too many failed sign-in attempts for this account. For its safety, sign-in is paused: try again in 30 seconds.');
  });

  test('Retry-After is at least one second, rounded up', () => {
    const { limits: l } = limits({ apiPerAccount: '1000/1s' });
    for (let i = 0; i < 1000; i++) assert.equal(l.take(['apiPerAccount', 'acct']), undefined);
    assert.equal(l.take(['apiPerAccount', 'acct'])?.headers['retry-after'], '1');
  });

  test('logs one warn line per key per window, however many requests are refused', () => {
    const { clock, warnings, limits: l } = limits({ apiBadTokenPerAddress: '2/10s' });
    for (let i = 0; i < 50; i++) {
      l.take(['apiBadTokenPerAddress', '192.0.2.7']);
      l.take(['apiBadTokenPerAddress', '192.0.2.8']);
      clock.now += 100;
    }
    assert.deepEqual(
      warnings.map((w) => [w.msg, w.fields.limit, w.fields.key]),
      [
        ['rate limit reached', 'apiBadTokenPerAddress', '192.0.2.7'],
        ['rate limit reached', 'apiBadTokenPerAddress', '192.0.2.8'],
      ],
    );
    assert.equal(typeof warnings[0]!.fields.retry_after_s, 'number');
  });

  test('several hits at once: when one limit refuses, the others are given back', () => {
    const { limits: l } = limits({ loginPerAddress: '3/1m', loginPerEmail: '1/1m' });
    const attempt = (email: string) => l.take(['loginPerAddress', '198.51.100.1'], ['loginPerEmail', email]);
    assert.equal(attempt('a@example.com'), undefined);
    for (let i = 0; i < 5; i++) assert.ok(attempt('a@example.com'), 'the email is limited');
    // The refused attempts did not use up the address: two more emails still fit.
    assert.equal(attempt('b@example.com'), undefined);
    assert.equal(attempt('c@example.com'), undefined);
    const err = attempt('d@example.com');
    assert.match(err?.message ?? '', /from your network/);
  });

  test('a refund makes a hit not count (a right password, a valid token)', () => {
    const { limits: l } = limits({ loginPerAddress: '1/1m' });
    for (let i = 0; i < 5; i++) {
      assert.equal(l.take(['loginPerAddress', '198.51.100.2']), undefined);
      l.refund(['loginPerAddress', '198.51.100.2']);
    }
  });

  test('a limit set to off never refuses', () => {
    const { limits: l } = limits({ apiPerAccount: 'off' });
    for (let i = 0; i < 2000; i++) assert.equal(l.take(['apiPerAccount', 'acct']), undefined);
  });

  test('addresses are keyed per client: IPv4 as is, IPv4-mapped as IPv4, IPv6 by /64', () => {
    const { limits: l } = limits({ signinPerAddress: '1/1m' });
    assert.equal(l.take(['signinPerAddress', '2001:db8:1:2::10']), undefined);
    assert.ok(l.take(['signinPerAddress', '2001:db8:1:2:ffff:ffff:ffff:1']), 'same /64: same client');
    assert.equal(l.take(['signinPerAddress', '2001:db8:1:3::10']), undefined, 'another /64');
    assert.equal(l.take(['signinPerAddress', '203.0.113.9']), undefined);
    assert.ok(l.take(['signinPerAddress', '::ffff:203.0.113.9']), 'the same IPv4 client seen on a dual-stack socket');
  });
});

describe('address keys', () => {
  for (const [address, key] of [
    ['127.0.0.1', '127.0.0.1'],
    ['::ffff:10.1.2.3', '10.1.2.3'],
    ['::FFFF:10.1.2.3', '10.1.2.3'],
    ['::1', '0:0:0:0::/64'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['2001:0db8:0000:0042:0000:8a2e:0370:7334', '2001:db8:0:42::/64'],
    ['2001:db8:aa:bb::', '2001:db8:aa:bb::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['64:ff9b::192.0.2.33', '64:ff9b:0:0::/64'],
  ] as const) {
    test(`${address} → ${key}`, () => assert.equal(addressKey(address), key));
  }
});

test('waits are said in words, rounded up', () => {
  assert.equal(waitInWords(1), '1 second');
  assert.equal(waitInWords(45), '45 seconds');
  assert.equal(waitInWords(60), '1 minute');
  assert.equal(waitInWords(61), '2 minutes');
  assert.equal(waitInWords(3600), '1 hour');
  assert.equal(waitInWords(5401), '2 hours');
});
