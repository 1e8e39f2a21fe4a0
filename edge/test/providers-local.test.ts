import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  hashPassword,
  MAX_PASSWORD_LENGTH,
  MIN_PASSWORD_LENGTH,
  needsRehash,
  passwordPolicyError,
  verifyPassword,
  verifyUnknown,
} from '../src/auth/providers/local.js';

const FORMAT = /^scrypt\$32768\$8\$1\$([A-Za-z0-9+/]{22}==)\$([A-Za-z0-9+/]{43}=)$/;

describe('local account passwords', () => {
  test('a hash is scrypt$N$r$p$salt$hash with a 16-byte salt and a 32-byte key', async () => {
    const stored = await hashPassword('correct horse battery staple');
    const m = FORMAT.exec(stored);
    assert.ok(m, stored);
    assert.equal(Buffer.from(m[1] ?? '', 'base64').length, 16);
    assert.equal(Buffer.from(m[2] ?? '', 'base64').length, 32);
    assert.equal(needsRehash(stored), false);
  });

  test('the right password verifies, a wrong one does not', async () => {
    const stored = await hashPassword('correct horse battery staple');
    assert.equal(await verifyPassword('correct horse battery staple', stored), true);
    assert.equal(await verifyPassword('correct horse battery stapl', stored), false);
    assert.equal(await verifyPassword('Correct horse battery staple', stored), false);
    assert.equal(await verifyPassword('', stored), false);
  });

  test('two hashes of the same password differ (random salt)', async () => {
    const [a, b] = await Promise.all([hashPassword('same password'), hashPassword('same password')]);
    assert.notEqual(a, b);
    assert.equal(await verifyPassword('same password', a), true);
    assert.equal(await verifyPassword('same password', b), true);
  });

  test('Unicode forms of the same password verify (NFKC)', async () => {
    const composed = 'p\u00e4ssw\u00f6rd!';
    const decomposed = 'pa\u0308ssw\u00f6rd!';
    assert.notEqual(composed, decomposed);
    assert.equal(await verifyPassword(decomposed, await hashPassword(composed)), true);
  });

  test('a malformed stored string never verifies', async () => {
    const good = await hashPassword('correct horse battery staple');
    const parts = good.split('$');
    const swap = (i: number, v: string) => parts.map((p, j) => (j === i ? v : p)).join('$');
    const malformed = [
      '',
      'scrypt',
      'plaintext-password',
      good.replace(/^scrypt/, 'bcrypt'),
      `${good}$extra`,
      good.slice(0, -4), // a truncated hash (a prefix of the real key) must not verify
      swap(5, Buffer.concat([Buffer.from(parts[5] ?? '', 'base64'), Buffer.alloc(8)]).toString('base64')), // a longer hash
      swap(1, '32767'), // N not a power of two
      swap(1, '1024'), // N below the floor
      swap(1, String(2 ** 30)), // N above the ceiling (memory)
      swap(1, '032768'),
      swap(2, '0'),
      swap(2, '999'),
      swap(3, '-1'),
      swap(4, ''),
      swap(4, 'AAAA'), // salt too short
      swap(4, `${parts[4]}!`), // junk Buffer.from would skip
      swap(5, 'AAAA'),
      swap(5, (parts[5] ?? '').replace(/=$/, '')), // unpadded
    ];
    for (const stored of malformed) {
      assert.equal(await verifyPassword('correct horse battery staple', stored), false, stored);
    }
    assert.equal(needsRehash('nonsense'), true);
  });

  test('an unknown account costs a verification and is false', async () => {
    assert.equal(await verifyPassword('whatever password', null), false);
    assert.equal(await verifyPassword('whatever password', undefined), false);
    assert.equal(await verifyUnknown('whatever password'), false);
    // Same order of cost as a real check (scrypt N=2^15 takes tens of milliseconds), not a short cut.
    const stored = await hashPassword('whatever password');
    const t0 = process.hrtime.bigint();
    await verifyPassword('whatever password', stored);
    const real = Number(process.hrtime.bigint() - t0);
    const t1 = process.hrtime.bigint();
    await verifyPassword('whatever password', null);
    const unknown = Number(process.hrtime.bigint() - t1);
    assert.ok(unknown > real / 4, `unknown ${unknown}ns vs real ${real}ns`);
  });

  test('length policy: minimum 8, maximum 1024 characters', async () => {
    assert.equal(MIN_PASSWORD_LENGTH, 8);
    assert.equal(MAX_PASSWORD_LENGTH, 1024);
    assert.match(passwordPolicyError('1234567') ?? '', /at least 8/);
    assert.equal(passwordPolicyError('12345678'), null);
    assert.equal(passwordPolicyError('x'.repeat(1024)), null);
    assert.match(passwordPolicyError('x'.repeat(1025)) ?? '', /at most 1024/);
    assert.equal(passwordPolicyError('\u{1F600}'.repeat(8)), null, 'characters, not UTF-16 units');
    await assert.rejects(hashPassword('short'), RangeError);
    await assert.rejects(hashPassword('x'.repeat(1025)), RangeError);
    const stored = await hashPassword('12345678');
    assert.equal(await verifyPassword('x'.repeat(100_000), stored), false);
  });

  test('stored strings with other (bounded) parameters still verify and ask for a rehash', async () => {
    const { scrypt } = await import('node:crypto');
    const salt = Buffer.alloc(16, 7);
    const key = await new Promise<Buffer>((resolve, reject) =>
      scrypt('old password', salt, 32, { N: 2 ** 14, r: 8, p: 1 }, (err, k) => (err ? reject(err) : resolve(k))));
    const stored = `scrypt$16384$8$1$${salt.toString('base64')}$${key.toString('base64')}`;
    assert.equal(await verifyPassword('old password', stored), true);
    assert.equal(needsRehash(stored), true);
  });
});
