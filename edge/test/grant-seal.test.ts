import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GrantSeal } from '../src/auth/grant-seal.js';

const grant = { refreshToken: 'rt-secret-value-123', idToken: 'eyJ.header.sig' };

test('a sealed grant opens with the same client secret and grant id, and shows nothing in the clear', async () => {
  const seal = GrantSeal.forProvider('client-secret', 'corp-sso');
  const sealed = await seal.seal('grt_1', grant);
  assert.ok(!sealed.includes('rt-secret-value-123'));
  assert.ok(!Buffer.from(sealed.split('.')[3] ?? '', 'base64url').toString('latin1').includes('rt-secret'));
  assert.deepEqual(await seal.open('grt_1', sealed), grant);
  assert.notEqual(await seal.seal('grt_1', grant), sealed, 'a fresh IV every time');
});

test('it does not open for another grant, another provider, another secret, or once tampered with', async () => {
  const seal = GrantSeal.forProvider('client-secret', 'corp-sso');
  const sealed = await seal.seal('grt_1', grant);
  assert.equal(await seal.open('grt_2', sealed), undefined, 'moved to another row');
  assert.equal(await GrantSeal.forProvider('client-secret', 'other').open('grt_1', sealed), undefined);
  assert.equal(await GrantSeal.forProvider('rotated-secret', 'corp-sso').open('grt_1', sealed), undefined);
  const parts = sealed.split('.');
  const ct = Buffer.from(parts[3]!, 'base64url');
  ct[0]! ^= 1;
  parts[3] = ct.toString('base64url');
  assert.equal(await seal.open('grt_1', parts.join('.')), undefined);
  assert.equal(await seal.open('grt_1', 'not a jwe'), undefined);
});
