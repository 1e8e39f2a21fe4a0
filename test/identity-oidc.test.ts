import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { ForgedIdp, type IdTokenTamper } from './lib/forged-idp.js';
import { IdentityApp } from './lib/identity-app.js';
import { ConnectorProcess, EdgeProcess, createAccount, makeTempDir } from './lib/postern.js';
import { killAll } from './lib/process.js';
import { WebClient, type Hop } from './lib/web-client.js';

const CLIENT_ID = 'postern-forged';
const CLIENT_SECRET = 'forged-client-secret-91d2';

/**
 * ID token validation and email rules end to end: an IdP the test controls completely signs
 * broken ID tokens (wrong iss / aud / exp / alg / key / nonce) and chooses every claim; the edge must
 * refuse each broken token with 400 and no session, and apply email rules exactly.
 */
describe('OIDC: ID token validation and email rules', () => {
  const tmp = makeTempDir('identity-oidc');
  let edge: EdgeProcess;
  let idp: ForgedIdp;
  let app: IdentityApp;
  const sockets: Record<'domain' | 'address' | 'wildcard' | 'groups', ConnectorProcess> = {} as never;
  let seq = 0;

  before(async () => {
    const db = `${tmp.dir}/edge.db`;
    const alice = await createAccount(db, 'alice@example.com');
    idp = await ForgedIdp.start({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    const secretFile = `${tmp.dir}/oidc.secret`;
    writeFileSync(secretFile, `${CLIENT_SECRET}\n`, { mode: 0o600 });
    edge = await EdgeProcess.start({
      db,
      extraArgs: ['--oidc-issuer', idp.issuer, '--oidc-client-id', CLIENT_ID, '--oidc-client-secret-file', secretFile, '--oidc-name', 'Forged IdP'],
    });
    app = await IdentityApp.start('shared app');
    const start = (name: string, rule: string[]) =>
      ConnectorProcess.start({ edge, token: alice, appPort: app.port, label: `connect:${name}`, args: ['--name', name, '--cloudauth', ...rule] });
    [sockets.domain, sockets.address, sockets.wildcard, sockets.groups] = await Promise.all([
      start('domain', ['--allowed-email-domains', 'example.com']),
      start('address', ['--allowed-email-addresses', 'boss@example.com']),
      start('wildcard', ['--allowed-email-domains', '*.corp.example']),
      start('groups', ['--allowed-groups', 'admins']),
    ]);
  });

  after(async () => {
    await killAll();
    await app?.close();
    await idp?.close();
    tmp.remove();
  });

  const trace = (hops: readonly Hop[]) => hops.map((h) => `${h.status} ${h.method} ${h.url} -> ${h.rawLocation ?? ''}`).join('\n');
  const setsLogin = (hops: readonly Hop[]) => hops.some((h) => h.setCookies.some((c) => /^postern_login=[^;]/.test(c)));

  /** One complete sign-in attempt at a socket as a fresh browser, with the IdP set up as given. */
  async function attempt(socket: ConnectorProcess, claims: Record<string, unknown>, tamper: IdTokenTamper = 'none') {
    idp.tamper = tamper;
    idp.claims = { sub: `user-${++seq}`, ...claims };
    const client = new WebClient(`attempt-${seq}`);
    const before = app.requests.length;
    const nav = await client.navigate(`http://${socket.publicHost}/headers`, { maxHops: 12 });
    const reached = app.requests.slice(before);
    return { nav, last: nav.last, reached, client };
  }

  it('accepts a correct ID token (control)', async () => {
    const { last, reached } = await attempt(sockets.domain, { email: 'ok@example.com', email_verified: true });
    assert.equal(last.status, 200, last.body.slice(0, 300));
    assert.equal(reached[0]?.headers['x-auth-email'], 'ok@example.com');
  });

  const broken: [IdTokenTamper, string][] = [
    ['wrong-iss', 'iss of another issuer'],
    ['wrong-aud', 'aud of another client'],
    ['extra-aud', 'aud with an extra audience and no azp'],
    ['expired', 'exp in the past'],
    ['alg-none', 'alg none (unsigned)'],
    ['hs256-client-secret', 'HS256 signed with the client secret (alg confusion)'],
    ['rs384-same-key', 'RS384 although RS256 is pinned'],
    ['unknown-key', 'signed by a key not in the JWKS'],
    ['wrong-nonce', 'another nonce'],
    ['no-nonce', 'no nonce'],
    ['no-sub', 'no sub'],
  ];
  for (const [tamper, what] of broken) {
    it(`refuses an ID token with ${what}: 400, no session`, async () => {
      const { nav, last, reached } = await attempt(sockets.domain, { email: 'victim@example.com', email_verified: true }, tamper);
      assert.equal(last.status, 400, `${tamper}:\n${trace(nav.hops)}\n${last.body.slice(-400)}`);
      assert.equal(new URL(last.url).pathname, '/auth/callback');
      assert.match(last.body, /Sign-in did not complete/);
      assert.ok(!setsLogin(nav.hops), 'no login cookie');
      assert.equal(reached.length, 0, 'nothing reached the app');
      assert.ok(edge.proc.running);
    });
  }

  it('refuses an authorization response whose iss names another issuer (RFC 9207 mix-up)', async () => {
    idp.responseIss = 'http://127.0.0.1:1';
    try {
      const { nav, last, reached } = await attempt(sockets.domain, { email: 'victim@example.com', email_verified: true });
      assert.equal(last.status, 400, trace(nav.hops));
      assert.ok(!setsLogin(nav.hops));
      assert.equal(reached.length, 0);
    } finally {
      idp.responseIss = undefined;
    }
  });

  it('ignores an email whose email_verified is false, missing or the string "true"', async () => {
    for (const claims of [
      { email: 'v1@example.com', email_verified: false },
      { email: 'v2@example.com' },
      { email: 'v3@example.com', email_verified: 'true' },
    ]) {
      const { last, reached } = await attempt(sockets.domain, claims);
      assert.equal(last.status, 403, JSON.stringify(claims));
      assert.match(last.body, /no verified email/i, JSON.stringify(claims));
      assert.equal(reached.length, 0);
    }
  });

  it('refuses an email taken from UserInfo of another subject', async () => {
    idp.userinfo = { sub: 'someone-else', email: 'boss@example.com', email_verified: true };
    try {
      const { nav, last, reached } = await attempt(sockets.address, {});
      assert.notEqual(last.status, 200, trace(nav.hops));
      assert.equal(reached.length, 0, 'the other subject’s email does not let anyone in');
    } finally {
      idp.userinfo = undefined;
    }
  });

  it('uses a verified email from UserInfo of the same subject (control)', async () => {
    idp.userinfo = { sub: `user-${seq + 1}`, email: 'boss@example.com', email_verified: true };
    try {
      const { last, reached } = await attempt(sockets.address, {});
      assert.equal(last.status, 200, last.body.slice(-300));
      assert.equal(reached[0]?.headers['x-auth-email'], 'boss@example.com');
    } finally {
      idp.userinfo = undefined;
    }
  });

  const domainCases: [string, boolean][] = [
    ['user@example.com', true],
    ['USER@EXAMPLE.COM', true],
    ['user+tag@example.com', true],
    ['user@evil.com@example.com', false],
    ['user@example.com@evil.com', false],
    ['"user@evil.com"@example.com', false],
    ['user@notexample.com', false],
    ['user@sub.example.com', false],
    ['user@example.com.', false],
    ['user@example.com.evil.com', false],
    ['user@exаmple.com', false], // Cyrillic а
    ['user@example.com\u0000', false],
    ['user@example.com\n', false],
    ['user@ example.com', false],
    ['@example.com', false],
    ['example.com', false],
  ];
  for (const [email, allowed] of domainCases) {
    it(`domain rule example.com ${allowed ? 'admits' : 'refuses'} ${JSON.stringify(email)}`, async () => {
      const { last, reached } = await attempt(sockets.domain, { email, email_verified: true });
      assert.equal(last.status, allowed ? 200 : 403, last.body.slice(-300));
      assert.equal(reached.length, allowed ? 1 : 0);
      if (allowed) assert.equal(reached[0]!.headers['x-auth-email'], email.toLowerCase());
    });
  }

  const addressCases: [string, boolean][] = [
    ['boss@example.com', true],
    ['Boss@Example.COM', true],
    ['boss+x@example.com', false],
    ['boss@example.com.', false],
    ['boss@example.com@evil.com', false],
    ['evil@boss@example.com', false],
    ['xboss@example.com', false],
    ['boss@sub.example.com', false],
    ['bоss@example.com', false], // Cyrillic о
  ];
  for (const [email, allowed] of addressCases) {
    it(`address rule boss@example.com ${allowed ? 'admits' : 'refuses'} ${JSON.stringify(email)}`, async () => {
      const { last, reached } = await attempt(sockets.address, { email, email_verified: true });
      assert.equal(last.status, allowed ? 200 : 403, last.body.slice(-300));
      assert.equal(reached.length, allowed ? 1 : 0);
    });
  }

  const wildcardCases: [string, boolean][] = [
    ['a@eu.corp.example', true],
    ['a@x.y.corp.example', true],
    ['a@corp.example', false],
    ['a@evilcorp.example', false],
    ['a@eu.corp.example.evil.com', false],
    ['a@eu.corp.example.', false],
  ];
  for (const [email, allowed] of wildcardCases) {
    it(`domain rule *.corp.example ${allowed ? 'admits' : 'refuses'} ${JSON.stringify(email)}`, async () => {
      const { last, reached } = await attempt(sockets.wildcard, { email, email_verified: true });
      assert.equal(last.status, allowed ? 200 : 403, last.body.slice(-300));
      assert.equal(reached.length, allowed ? 1 : 0);
    });
  }

  it('group rule admins: admits the groups claim, refuses others and malformed ones', async () => {
    const ok = await attempt(sockets.groups, { email: 'g1@else.test', email_verified: true, groups: ['users', 'admins'] });
    assert.equal(ok.last.status, 200);
    const okAssertion = ok.reached[0]!.headers['x-postern-assertion'];
    assert.ok(typeof okAssertion === 'string');
    const payload = JSON.parse(Buffer.from(okAssertion.split('.')[1]!, 'base64url').toString('utf8')) as { groups: string[] };
    assert.deepEqual(payload.groups, ['users', 'admins'], 'groups in the assertion');
    for (const groups of [['users'], 'admins', [['admins']], [], undefined]) {
      const res = await attempt(sockets.groups, { email: 'g2@else.test', email_verified: true, ...(groups === undefined ? {} : { groups }) });
      assert.equal(res.last.status, 403, JSON.stringify(groups));
      assert.equal(res.reached.length, 0);
    }
  });
});
