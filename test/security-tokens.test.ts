import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { PROTOCOL_VERSION, TCP_PATH, TUNNEL_PATH } from '@postern/shared';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { expireToken } from './lib/edge-db.js';
import { rawUpgrade, request } from './lib/http.js';
import { IdentityApp } from './lib/identity-app.js';
import { startEdgeWithIdp, type TestIdp } from './lib/idp.js';
import { api, ConnectorProcess, createAccount, makeTempDir, type EdgeProcess } from './lib/postern.js';
import { killAll } from './lib/process.js';
import { WebClient } from './lib/web-client.js';

/**
 * Token misuse (SECURITY.md rules 3 and 7; Pomerium CVE-2024-47616 type confusion): every
 * credential the edge issues works only as what it is, where it belongs. A connector token on
 * another account's socket is refused in test/bad-input.test.ts; revocation closing live tunnels
 * and streams is in test/control-plane.test.ts.
 */
describe('token misuse: each credential only as itself', () => {
  const tmp = makeTempDir('security-tokens');
  let db: string;
  let edge: EdgeProcess;
  let idp: TestIdp;
  let app: IdentityApp;
  let socket: ConnectorProcess;
  let aliceToken: string;
  let carolToken: string;
  let assertion: string;
  let jwks: JSONWebKeySet;

  const origin = () => `http://${socket.publicHost}`;
  /** The answer at the socket (JSON) with these headers, and whether anything reached the app. */
  async function atSocket(headers: Record<string, string>, path = '/headers') {
    const before = app.requests.length;
    const res = await request({ port: edge.port, host: socket.publicHost, path, headers: { accept: 'application/json', ...headers } });
    return { status: res.status, code: res.headers['postern-error'], reached: app.requests.length - before };
  }
  const whoami = (authorization: string) => request({ port: edge.port, host: edge.domain, path: '/api/v1/whoami', headers: { authorization, accept: 'application/json' } });
  const tunnel = (authorization: string) => rawUpgrade(edge.port, edge.domain, TUNNEL_PATH, { authorization, 'postern-protocol': String(PROTOCOL_VERSION), 'postern-socket': socket.socketId });
  const signedInAtEdge = async (login: string) =>
    (await request({ port: edge.port, host: edge.domain, path: '/auth/login?rd=%2Fx', headers: { cookie: `postern_login=${login}` } })).headers.location === '/x';

  before(async () => {
    db = `${tmp.dir}/edge.db`;
    aliceToken = await createAccount(db, 'alice@example.com');
    carolToken = await createAccount(db, 'carol@example.com');
    ({ edge, idp } = await startEdgeWithIdp({ db, dir: tmp.dir, accounts: { bob: { sub: 'bob-sub', email: 'bob@example.com', email_verified: true } } }));
    app = await IdentityApp.start('tokens');
    socket = await ConnectorProcess.start({ edge, token: aliceToken, appPort: app.port, args: ['--name', 'tokens', '--cloudauth', '--allowed-email-domains', 'example.com'] });
    const bob = new WebClient('bob');
    assert.equal((await bob.navigate(`${origin()}/headers`, { login: 'bob' })).last.status, 200);
    assertion = String(app.last('/headers').headers['x-postern-assertion']);
    jwks = JSON.parse((await request({ port: edge.port, host: edge.domain, path: '/.well-known/jwks.json' })).body.toString('utf8')) as JSONWebKeySet;
  });

  after(async () => {
    await killAll();
    await Promise.all([app?.close(), idp?.close()]);
    tmp.remove();
  });

  it('an API token is not a session: as any edge cookie it signs no one in', async () => {
    for (const value of [carolToken, carolToken.slice(4), encodeURIComponent(`Bearer ${carolToken}`)]) {
      for (const name of ['postern_session', 'postern_login', 'postern_bind']) {
        const res = await atSocket({ cookie: `${name}=${value}` });
        assert.deepEqual([res.status, res.reached], [401, 0], `${name}=${value.slice(0, 8)}… at the socket`);
      }
      assert.equal(await signedInAtEdge(value), false, 'as the login cookie');
    }
    assert.equal((await atSocket({ authorization: `Bearer ${carolToken}` })).status, 200, 'the same token as a Bearer token works');
  });

  it('the signed assertion is not a credential anywhere: Bearer, cookie, API, tunnel, TCP', async () => {
    const header = decodeProtectedHeader(assertion);
    assert.equal(header.typ, 'postern-assertion+jwt', 'its own typ, shared with no other token');
    for (const authorization of [`Bearer ${assertion}`, `Bearer pst_${assertion}`, assertion]) {
      assert.deepEqual(await atSocket({ authorization }).then((r) => [r.status, r.reached]), [401, 0], `${authorization.slice(0, 12)}… at the socket`);
      assert.equal((await whoami(authorization)).status, 401, 'at the API');
      const up = await tunnel(authorization);
      if ('socket' in up) up.socket.destroy();
      assert.equal(up.status, 401, 'as a tunnel token');
      const tcp = await request({ port: edge.port, host: edge.domain, path: TCP_PATH, headers: { authorization, 'postern-socket': socket.socketId, accept: 'application/json' } });
      assert.equal(tcp.status, 401, 'for a TCP stream');
    }
    assert.deepEqual(await atSocket({ cookie: `postern_session=${assertion}` }).then((r) => [r.status, r.reached]), [401, 0], 'as a session cookie');
    assert.equal(await signedInAtEdge(assertion), false, 'as the login cookie');
  });

  it("an assertion verifies only for the socket it names, with the edge's key, typ and algorithm", async () => {
    const keys = createLocalJWKSet(jwks);
    const { payload } = await jwtVerify(assertion, keys, { issuer: edge.url, audience: origin(), algorithms: ['ES256'], typ: 'postern-assertion+jwt' });
    assert.equal(payload.email, 'bob@example.com');
    assert.ok(typeof payload.exp === 'number' && payload.exp - payload.iat! <= 300, 'short-lived');
    assert.ok(payload.jti, 'a jti');
    await assert.rejects(jwtVerify(assertion, keys, { issuer: edge.url, audience: 'http://sibling.localhost', algorithms: ['ES256'] }), /aud/, 'another socket rejects it');
    await assert.rejects(jwtVerify(assertion, keys, { issuer: edge.url, audience: origin(), algorithms: ['RS256'] }), /alg/, 'a pinned algorithm');
    await assert.rejects(jwtVerify(assertion, keys, { issuer: edge.url, audience: origin(), typ: 'JWT' }), /typ/, 'another typ');
  });

  it('a revoked token is refused at once, everywhere (no cached acceptance)', async () => {
    const created = await api(edge, carolToken, 'POST', '/tokens', { name: 'to-revoke' });
    const { token, id } = created.json as { token: string; id: string };
    assert.equal((await atSocket({ authorization: `Bearer ${token}` })).status, 200, 'works before');
    assert.equal((await whoami(`Bearer ${token}`)).status, 200);
    assert.equal((await api(edge, carolToken, 'DELETE', `/tokens/${id}`)).status, 204);
    const after = await atSocket({ authorization: `Bearer ${token}` });
    assert.deepEqual([after.status, after.reached], [401, 0], 'the socket refuses it the moment it is revoked');
    const who = await whoami(`Bearer ${token}`);
    assert.equal(who.status, 401);
    assert.equal(who.headers['postern-error'], 'TOKEN_REVOKED');
    const up = await tunnel(`Bearer ${token}`);
    if ('socket' in up) up.socket.destroy();
    assert.equal(up.status, 401);
  });

  it('an expired token is refused everywhere', async () => {
    const created = await api(edge, carolToken, 'POST', '/tokens', { name: 'to-expire', expires_in_seconds: 60 });
    const { token, id } = created.json as { token: string; id: string };
    expireToken(db, id);
    assert.deepEqual(await atSocket({ authorization: `Bearer ${token}` }).then((r) => [r.status, r.reached]), [401, 0]);
    const who = await whoami(`Bearer ${token}`);
    assert.equal(who.status, 401);
    assert.equal(who.headers['postern-error'], 'TOKEN_EXPIRED');
    const up = await tunnel(`Bearer ${token}`);
    if ('socket' in up) up.socket.destroy();
    assert.equal(up.status, 401);
  });

  it('a token in the query string is never taken (it would end up in logs and Referer)', async () => {
    for (const query of ['access_token', 'token', 'api_key', 'authorization', 'bearer', 'postern_token']) {
      for (const value of [carolToken, `Bearer ${carolToken}`]) {
        const qs = `?${query}=${encodeURIComponent(value)}`;
        assert.deepEqual(await atSocket({}, `/headers${qs}`).then((r) => [r.status, r.reached]), [401, 0], `${query} at the socket`);
        const res = await request({ port: edge.port, host: edge.domain, path: `/api/v1/whoami${qs}`, headers: { accept: 'application/json' } });
        assert.equal(res.status, 401, `${query} at the API`);
        const up = await rawUpgrade(edge.port, edge.domain, `${TUNNEL_PATH}${qs}`, { 'postern-protocol': String(PROTOCOL_VERSION), 'postern-socket': socket.socketId });
        if ('socket' in up) up.socket.destroy();
        assert.ok([401, 404].includes(up.status), `${query} on the tunnel: ${up.status}`);
      }
    }
  });
});
