import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLocalJWKSet, exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { LogoutTokenError, verifyLogoutToken } from '../src/auth/backchannel-logout.js';
import type { OidcIssuerInfo } from '../src/auth/providers/types.js';

const ISSUER = 'https://idp.example.com';
const EVENTS = { 'http://schemas.openid.net/event/backchannel-logout': {} };
let rsa: CryptoKey;
let ec: CryptoKey;
let issuer: OidcIssuerInfo;

test.before(async () => {
  const r = await generateKeyPair('RS256');
  const e = await generateKeyPair('ES256');
  rsa = r.privateKey;
  ec = e.privateKey;
  const keys: JWK[] = [{ ...(await exportJWK(r.publicKey)), kid: 'r1' }, { ...(await exportJWK(e.publicKey)), kid: 'e1' }];
  issuer = { issuer: ISSUER, clientId: 'postern', idTokenAlg: 'RS256', keys: createLocalJWKSet({ keys }), endSessionEndpoint: undefined };
});

const token = (claims: Record<string, unknown>, header: Record<string, unknown> = { alg: 'RS256', kid: 'r1', typ: 'logout+jwt' }, key: CryptoKey = rsa) =>
  new SignJWT({ iss: ISSUER, aud: 'postern', iat: Math.floor(Date.now() / 1000), jti: 'j1', events: EVENTS, ...claims }).setProtectedHeader(header as never).sign(key);

test('a logout token names a session (sid), a subject (sub), or both; typ logout+jwt, its media type, or none', async () => {
  assert.deepEqual(await verifyLogoutToken(await token({ sid: 's1' }), issuer).then((r) => [r.sid, r.sub, r.jti]), ['s1', undefined, 'j1']);
  assert.equal((await verifyLogoutToken(await token({ sub: 'u1' }, { alg: 'RS256', kid: 'r1', typ: 'application/logout+jwt' }), issuer)).sub, 'u1');
  assert.equal((await verifyLogoutToken(await token({ sub: 'u1', sid: 's2' }, { alg: 'RS256', kid: 'r1' }), issuer)).sid, 's2');
});

test('the issuer\'s pinned algorithm applies to logout tokens as to ID tokens', async () => {
  await assert.rejects(verifyLogoutToken(await token({ sid: 's1' }, { alg: 'ES256', kid: 'e1', typ: 'logout+jwt' }, ec), issuer), (err: unknown) => err instanceof LogoutTokenError && /algorithm not allowed/.test(err.message));
  assert.equal((await verifyLogoutToken(await token({ sid: 's1' }, { alg: 'ES256', kid: 'e1' }, ec), { ...issuer, idTokenAlg: 'ES256' })).sid, 's1');
});

test('garbage is a LogoutTokenError, never another exception', async () => {
  for (const bad of ['', 'a.b', 'x.y.z', `${Buffer.from('{"alg":"RS256"}').toString('base64url')}.e30.`]) {
    await assert.rejects(verifyLogoutToken(bad, issuer), LogoutTokenError, JSON.stringify(bad));
  }
});
