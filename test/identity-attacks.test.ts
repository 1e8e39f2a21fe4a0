import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { closeOf, nextMessage, openWebSocket, rawHttp, rawUpgrade, request, type UpgradeResult } from './lib/http.js';
import { IdentityApp } from './lib/identity-app.js';
import { startEdgeWithIdp, type TestIdp } from './lib/idp.js';
import { ConnectorProcess, createAccount, makeTempDir, type EdgeProcess } from './lib/postern.js';
import { killAll } from './lib/process.js';
import { WebClient, type Hop } from './lib/web-client.js';

/** Closes the socket of an upgrade that was (wrongly or rightly) accepted. */
function release(result: UpgradeResult): void {
  if ('socket' in result) result.socket.destroy();
}

/**
 * The bad-input cases of sign-in, sessions and identity headers, driven over plain HTTP (a scripted
 * cookie-jar client, no browser) against a real edge, real connectors and a real OpenID provider.
 * Every case asserts the safe outcome: 400 / 401 / 403 / a redirect to sign-in, never a session.
 */
describe('identity attacks: state, codes, cookies, redirects, headers, tokens', () => {
  const tmp = makeTempDir('identity-attacks');
  let edge: EdgeProcess;
  let idp: TestIdp;
  /** Alice's socket: sign-in required, anyone @example.com. */
  let appA: IdentityApp;
  let socketA: ConnectorProcess;
  /** Mallory's public socket (another account). */
  let appB: IdentityApp;
  let socketB: ConnectorProcess;
  /** Mallory's sign-in socket that also admits @example.com: a sibling that wants A's sessions. */
  let appC: IdentityApp;
  let socketC: ConnectorProcess;
  let aliceToken: string;
  let carolToken: string;
  let daveToken: string;
  let jwks: JSONWebKeySet;

  const originA = () => `http://${socketA.publicHost}`;
  const originB = () => `http://${socketB.publicHost}`;
  const originC = () => `http://${socketC.publicHost}`;
  const loginUrl = () => `${edge.url}/auth/login`;

  before(async () => {
    const db = `${tmp.dir}/edge.db`;
    aliceToken = await createAccount(db, 'alice@example.com');
    const mallory = await createAccount(db, 'mallory@attacker.test');
    carolToken = await createAccount(db, 'carol@example.com');
    daveToken = await createAccount(db, 'dave@other.test');
    ({ edge, idp } = await startEdgeWithIdp({
      db,
      dir: tmp.dir,
      accounts: {
        bob: { sub: 'bob-sub', email: 'bob@example.com', email_verified: true, name: 'Bob' },
        eve: { sub: 'eve-sub', email: 'eve@outsider.test', email_verified: true, name: 'Eve' },
        attacker: { sub: 'attacker-sub', email: 'attacker@example.com', email_verified: true, name: 'Attacker' },
        unverified: { sub: 'unverified-sub', email: 'unverified@example.com', email_verified: false, name: 'Una Verified' },
      },
    }));
    [appA, appB, appC] = await Promise.all([IdentityApp.start('A'), IdentityApp.start('B'), IdentityApp.start('C')]);
    [socketA, socketB, socketC] = await Promise.all([
      ConnectorProcess.start({ edge, token: aliceToken, appPort: appA.port, label: 'connect:A', args: ['--name', 'alpha', '--cloudauth', '--allowed-email-domains', 'example.com'] }),
      ConnectorProcess.start({ edge, token: mallory, appPort: appB.port, label: 'connect:B', args: ['--name', 'bravo'] }),
      ConnectorProcess.start({ edge, token: mallory, appPort: appC.port, label: 'connect:C', args: ['--name', 'charlie', '--cloudauth', '--allowed-email-domains', 'example.com'] }),
    ]);
    const res = await request({ port: edge.port, host: edge.domain, path: '/.well-known/jwks.json' });
    jwks = JSON.parse(res.body.toString('utf8')) as JSONWebKeySet;
  });

  after(async () => {
    await killAll();
    await Promise.all([appA?.close(), appB?.close(), appC?.close(), idp?.close()]);
    tmp.remove();
  });

  /** A client signed in as `login`, having reached `origin` (or its 403 page). */
  async function signedIn(login: string, origin = originA(), path = '/headers'): Promise<WebClient> {
    const client = new WebClient(login);
    const nav = await client.navigate(`${origin}${path}`, { login });
    assert.ok([200, 403].includes(nav.last.status), `${login} reached ${origin}: ${trace(nav.hops)}`);
    return client;
  }

  const trace = (hops: readonly Hop[]) => hops.map((h) => `${h.status} ${h.method} ${h.url} -> ${h.rawLocation ?? ''}`).join('\n');
  const setsCookie = (hop: Hop, name: string) => hop.setCookies.some((c) => c.toLowerCase().startsWith(`${name.toLowerCase()}=`) && !/max-age=0/i.test(c));
  const isLoginRedirect = (hop: Hop) => hop.status === 302 && hop.location !== undefined && hop.location.startsWith(`${loginUrl()}?`);

  /** Starts a sign-in at socket A and stops when the IdP sends the browser back to the edge's callback. */
  async function callbackUrlFor(client: WebClient, login: string): Promise<URL> {
    const nav = await client.navigate(`${originA()}/headers`, { login, stopAt: (u) => u.host === edge.domain && u.pathname === '/auth/callback' });
    assert.ok(nav.stoppedAt, `reached the callback: ${trace(nav.hops)}`);
    return nav.stoppedAt;
  }

  /** Signs in and stops before the socket host redeems its one-time code. */
  async function handoffUrlFor(client: WebClient, login: string, origin = originA()): Promise<URL> {
    const nav = await client.navigate(`${origin}/headers`, { login, stopAt: (u) => u.pathname === '/.postern/callback' });
    assert.ok(nav.stoppedAt, `reached the socket callback: ${trace(nav.hops)}`);
    return nav.stoppedAt;
  }

  describe('the OIDC callback', () => {
    it('refuses a callback with no state, an empty state or no transaction cookie (400, no session)', async () => {
      const client = new WebClient('victim');
      const callback = await callbackUrlFor(client, 'bob');
      const code = callback.searchParams.get('code')!;
      const cases = [
        `${edge.url}/auth/callback?code=${encodeURIComponent(code)}`,
        `${edge.url}/auth/callback?code=${encodeURIComponent(code)}&state=`,
        `${edge.url}/auth/callback`,
      ];
      for (const url of cases) {
        const hop = await client.fetch(url);
        assert.equal(hop.status, 400, `${url}: ${hop.body.slice(0, 200)}`);
        assert.ok(!setsCookie(hop, 'postern_login'), `no login cookie for ${url}`);
      }
      // The right state but without the browser's transaction cookie.
      const stranger = await new WebClient('stranger').fetch(callback);
      assert.equal(stranger.status, 400);
      assert.ok(!setsCookie(stranger, 'postern_login'));
    });

    it('refuses a replayed callback (state and code used once already)', async () => {
      const client = new WebClient('replayer');
      const callback = await callbackUrlFor(client, 'bob');
      const tx = client.cookie(edge.url, 'postern_tx');
      assert.ok(tx, 'the transaction cookie is set');
      const first = await client.fetch(callback);
      assert.equal(first.status, 302, first.body.slice(0, 300));
      assert.ok(setsCookie(first, 'postern_login'), 'the first use signs in');
      // Replay it with the transaction cookie put back and with the login cookie removed.
      const replayer = new WebClient('replay');
      replayer.setCookie(edge.url, 'postern_tx', tx);
      const replay = await replayer.fetch(callback);
      assert.equal(replay.status, 400, replay.body.slice(0, 300));
      assert.ok(!setsCookie(replay, 'postern_login'), 'no session from a replay');
    });

    it("refuses a foreign state: the attacker's callback in the victim's browser (login CSRF)", async () => {
      const attacker = new WebClient('attacker');
      const attackerCallback = await callbackUrlFor(attacker, 'attacker');
      // The victim has started a sign-in of their own (their own transaction cookie)...
      const victim = new WebClient('victim');
      await callbackUrlFor(victim, 'bob');
      const hop = await victim.fetch(attackerCallback);
      assert.equal(hop.status, 400, hop.body.slice(0, 300));
      assert.ok(!setsCookie(hop, 'postern_login'), 'the victim is not signed in as the attacker');
      // ...or none at all.
      const fresh = await new WebClient('fresh').fetch(attackerCallback);
      assert.equal(fresh.status, 400);
      assert.ok(!setsCookie(fresh, 'postern_login'));
    });

    it("refuses a swapped code: the victim's state with the attacker's code (PKCE / code injection)", async () => {
      const attacker = new WebClient('attacker');
      const attackerCallback = await callbackUrlFor(attacker, 'attacker');
      const victim = new WebClient('victim');
      const victimCallback = await callbackUrlFor(victim, 'bob');
      const swapped = new URL(victimCallback);
      swapped.searchParams.set('code', attackerCallback.searchParams.get('code')!);
      const hop = await victim.fetch(swapped);
      assert.equal(hop.status, 400, hop.body.slice(0, 300));
      assert.ok(!setsCookie(hop, 'postern_login'));
      assert.ok(edge.proc.running, 'the edge survived');
    });

    it('refuses an error answer from the IdP, and a callback carrying another issuer (mix-up)', async () => {
      const client = new WebClient('err');
      const callback = await callbackUrlFor(client, 'bob');
      const withError = new URL(`${edge.url}/auth/callback`);
      withError.searchParams.set('error', 'access_denied');
      withError.searchParams.set('state', callback.searchParams.get('state')!);
      const hop = await client.fetch(withError);
      assert.equal(hop.status, 400);
      assert.ok(!setsCookie(hop, 'postern_login'));

      const other = new WebClient('mixup');
      const real = await callbackUrlFor(other, 'bob');
      const mixup = new URL(real);
      mixup.searchParams.set('iss', 'http://127.0.0.1:1/evil-issuer');
      const mixed = await other.fetch(mixup);
      assert.equal(mixed.status, 400, mixed.body.slice(0, 300));
      assert.ok(!setsCookie(mixed, 'postern_login'));
    });
  });

  describe('handoff codes and session cookies', () => {
    it('refuses a reused handoff code (redirect to sign-in, no session)', async () => {
      const client = new WebClient('reuse');
      const handoff = await handoffUrlFor(client, 'bob');
      assert.equal(handoff.origin, originA());
      // The thief has the code and even the browser's nonce cookie: only single use stops them.
      const thief = new WebClient('thief');
      thief.setCookie(originA(), 'postern_bind', client.cookie(originA(), 'postern_bind')!);
      const first = await client.fetch(handoff);
      assert.equal(first.status, 302);
      assert.ok(setsCookie(first, 'postern_session'), 'the first use gives the socket its cookie');
      assert.equal(first.rawLocation, '/headers', 'back to the path the person asked for');
      const again = await thief.fetch(handoff);
      assert.ok(isLoginRedirect(again), `a reused code starts over: ${again.status} ${again.rawLocation}`);
      assert.ok(!setsCookie(again, 'postern_session'));
    });

    it('refuses a code made for socket A at socket C (another account) or at a public socket', async () => {
      const client = new WebClient('victim');
      const handoff = await handoffUrlFor(client, 'bob');
      const atC = new URL(`${originC()}/.postern/callback${handoff.search}`);
      const thief = new WebClient('mallory');
      thief.setCookie(originC(), 'postern_bind', client.cookie(originA(), 'postern_bind')!);
      const hop = await thief.fetch(atC);
      assert.ok(isLoginRedirect(hop), `a foreign code starts over: ${hop.status} ${hop.rawLocation}`);
      assert.ok(!setsCookie(hop, 'postern_session'));
      const beforeC = appC.requests.length;
      const probe = await thief.fetch(`${originC()}/headers`, { headers: { accept: 'application/json' } });
      assert.equal(probe.status, 401);
      assert.equal(appC.requests.length, beforeC, 'nothing reached app C');
      // Presented at B (a public socket) too.
      const atB = await new WebClient('b').fetch(`${originB()}/.postern/callback${handoff.search}`);
      assert.ok(!setsCookie(atB, 'postern_session'));
    });

    it('treats a tampered, foreign or misplaced session cookie as signed out', async () => {
      const client = await signedIn('bob');
      const good = client.cookie(originA(), 'postern_session');
      assert.ok(good);
      const flipped = `${good.slice(0, -1)}${good.endsWith('A') ? 'B' : 'A'}`;
      const login = client.cookie(edge.url, 'postern_login');
      assert.ok(login);
      const cases: [string, string, string][] = [
        ['flipped last character', originA(), flipped],
        ['truncated', originA(), good.slice(0, 20)],
        ['random', originA(), 'x'.repeat(43)],
        ['overlong', originA(), good.repeat(20)],
        ["socket A's cookie at socket C", originC(), good],
        ["the edge's login cookie used as a socket cookie", originA(), login],
      ];
      const beforeA = appA.requests.length;
      const beforeC = appC.requests.length;
      for (const [what, origin, value] of cases) {
        const res = await request({ port: edge.port, host: new URL(origin).host, path: '/headers', headers: { cookie: `postern_session=${value}`, accept: 'text/html' } });
        assert.equal(res.status, 302, `${what}: ${res.status}`);
        assert.ok(String(res.headers.location).startsWith(`${loginUrl()}?`), `${what}: to sign-in (${res.headers.location})`);
        const json = await request({ port: edge.port, host: new URL(origin).host, path: '/headers', headers: { cookie: `postern_session=${value}`, accept: 'application/json' } });
        assert.equal(json.status, 401, `${what} (JSON): ${json.status}`);
      }
      assert.equal(appA.requests.length, beforeA, 'nothing reached app A');
      assert.equal(appC.requests.length, beforeC, 'nothing reached app C');
      // The genuine cookie still works.
      const ok = await request({ port: edge.port, host: socketA.publicHost, path: '/headers', headers: { cookie: `postern_session=${good}` } });
      assert.equal(ok.status, 200);
    });

    it('refuses a session cookie replayed after sign-out, over HTTP and WebSocket', async () => {
      const client = await signedIn('bob');
      const saved = client.cookie(originA(), 'postern_session')!;
      const ws = await rawUpgrade(edge.port, socketA.publicHost, '/ws', { cookie: `postern_session=${saved}`, origin: originA() });
      assert.equal(ws.status, 101, 'the WebSocket opens before sign-out');
      release(ws);

      // A cross-site sign-out is refused (siblings are same-site): the session survives it.
      const forged = await client.fetch(`${originA()}/.postern/signout`, { form: { scope: 'everywhere' }, headers: { origin: originB() } });
      assert.equal(forged.status, 403, 'sign-out from a sibling origin is refused');
      const still = await request({ port: edge.port, host: socketA.publicHost, path: '/headers', headers: { cookie: `postern_session=${saved}` } });
      assert.equal(still.status, 200, 'still signed in after the refused sign-out');

      const out = await client.fetch(`${originA()}/.postern/signout`, { form: { scope: 'here' }, headers: { origin: originA() } });
      assert.equal(out.status, 200);
      assert.ok(out.setCookies.some((c) => /^postern_session=;/.test(c) && /max-age=0/i.test(c)), `the cookie is cleared: ${out.setCookies.join(' | ')}`);
      const before = appA.requests.length;
      const html = await request({ port: edge.port, host: socketA.publicHost, path: '/headers', headers: { cookie: `postern_session=${saved}`, accept: 'text/html' } });
      assert.ok(html.status === 302 && String(html.headers.location).startsWith(`${loginUrl()}?`), `HTML replay goes to sign-in (${html.status})`);
      const json = await request({ port: edge.port, host: socketA.publicHost, path: '/headers', headers: { cookie: `postern_session=${saved}`, accept: 'application/json' } });
      assert.equal(json.status, 401);
      const upgrade = await rawUpgrade(edge.port, socketA.publicHost, '/ws', { cookie: `postern_session=${saved}`, origin: originA() });
      assert.equal(upgrade.status, 401, 'a WebSocket with the old cookie is refused');
      assert.equal(appA.requests.length, before, 'nothing reached the app');
    });

    it('signs out everywhere: every socket session and the login session of that user end', async () => {
      const client = await signedIn('bob');
      await client.navigate(`${originC()}/headers`); // the same login hands socket C its own session
      const a = client.cookie(originA(), 'postern_session');
      const c = client.cookie(originC(), 'postern_session');
      const login = client.cookie(edge.url, 'postern_login');
      assert.ok(a && c && login && a !== c, 'one session per socket host');
      const other = await signedIn('bob'); // another browser of the same user
      const otherA = other.cookie(originA(), 'postern_session')!;
      // "Everywhere" is the edge host's own (a socket's page is its owner's): its form, from its origin.
      const fromSocket = await client.fetch(`${originA()}/.postern/signout`, { form: { scope: 'everywhere' }, headers: { origin: originA() } });
      assert.equal(fromSocket.status, 200);
      const stillAtC = await request({ port: edge.port, host: new URL(originC()).host, path: '/headers', headers: { cookie: `postern_session=${c}`, accept: 'application/json' } });
      assert.equal(stillAtC.status, 200, "a socket's form ends only that socket's session");
      const out = await client.fetch(`${edge.url}/auth/signout`, { form: { scope: 'everywhere' }, headers: { origin: edge.url } });
      assert.equal(out.status, 200);
      for (const [what, origin, value] of [['A', originA(), a], ['C', originC(), c], ['A (other browser)', originA(), otherA]] as const) {
        const res = await request({ port: edge.port, host: new URL(origin).host, path: '/headers', headers: { cookie: `postern_session=${value}`, accept: 'application/json' } });
        assert.equal(res.status, 401, `socket ${what} after sign-out everywhere`);
      }
      const edgeLogin = await request({ port: edge.port, host: edge.domain, path: `/auth/login?rd=${encodeURIComponent(`${originA()}/`)}`, headers: { cookie: `postern_login=${login}` } });
      assert.ok(!String(edgeLogin.headers.location ?? '').includes('/.postern/'), `the login session is gone too (${edgeLogin.headers.location})`);
    });

    it('gives every sign-in a new socket session id (no fixation)', async () => {
      const client = new WebClient('fixation');
      // A cookie planted on the socket host before sign-in (e.g. by a sibling) is replaced, never adopted.
      client.setCookie(originA(), 'postern_session', 'planted-by-attacker-0000000000000000000000');
      const nav = await client.navigate(`${originA()}/headers`, { login: 'bob' });
      assert.equal(nav.last.status, 200, trace(nav.hops));
      const first = client.cookie(originA(), 'postern_session');
      assert.ok(first && first !== 'planted-by-attacker-0000000000000000000000');
      client.setCookie(originA(), 'postern_session', 'x');
      await client.navigate(`${originA()}/headers`);
      const second = client.cookie(originA(), 'postern_session');
      assert.ok(second && second !== first, 'a new id after signing in again');
    });
  });

  describe('policy and WebSockets', () => {
    it('gives a user whose IdP says email_verified=false no email: denied by the email rule, 403 says so', async () => {
      const before = appA.requests.length;
      const client = new WebClient('unverified');
      const nav = await client.navigate(`${originA()}/headers`, { login: 'unverified' });
      assert.equal(nav.last.status, 403, trace(nav.hops));
      assert.match(nav.last.body, /no verified email/i);
      assert.doesNotMatch(nav.last.body, /unverified@example\.com/, 'the unverified address is not treated as theirs');
      const json = await client.fetch(`${originA()}/headers`, { headers: { accept: 'application/json' } });
      assert.equal(json.status, 403);
      assert.equal(json.headers['postern-error'], 'POLICY_DENIED');
      assert.equal(appA.requests.length, before, 'nothing reached the app');
    });

    it('shows a user outside the rules the 403 page and never reaches the app', async () => {
      const before = appA.requests.length;
      const client = new WebClient('eve');
      const nav = await client.navigate(`${originA()}/headers`, { login: 'eve' });
      assert.equal(nav.last.status, 403);
      assert.match(nav.last.body, /eve@outsider\.test/);
      assert.equal(appA.requests.length, before);
    });

    it('refuses a cross-site WebSocket (403) and a WebSocket without a session (401)', async () => {
      const client = await signedIn('bob');
      const cookie = `postern_session=${client.cookie(originA(), 'postern_session')}`;
      const before = appA.requests.filter((r) => r.upgrade).length;
      for (const origin of [originB(), originC(), edge.url, 'null', `http://evil.test`, `https://${socketA.publicHost}`]) {
        const res = await rawUpgrade(edge.port, socketA.publicHost, '/ws', { cookie, origin });
        release(res);
        assert.equal(res.status, 403, `Origin ${origin}`);
      }
      const noOrigin = await rawUpgrade(edge.port, socketA.publicHost, '/ws', { cookie });
      release(noOrigin);
      assert.equal(noOrigin.status, 403, 'a cookie-authenticated upgrade without Origin');
      const anonymous = await rawUpgrade(edge.port, socketA.publicHost, '/ws', { origin: originA() });
      release(anonymous);
      assert.equal(anonymous.status, 401);
      assert.equal(appA.requests.filter((r) => r.upgrade).length, before, 'no upgrade reached the app');
      const good = await rawUpgrade(edge.port, socketA.publicHost, '/ws', { cookie, origin: originA() });
      assert.equal(good.status, 101, 'the same-origin upgrade works');
      release(good);
    });
  });

  describe('open redirects', () => {
    const payloads = (port: number) => [
      '//evil.com',
      '///evil.com',
      'https://evil.com',
      'http://evil.com/',
      'HTTP://EVIL.COM',
      '/\\evil.com',
      '\\\\evil.com',
      '/%2f%2fevil.com',
      '/%5cevil.com',
      '\t//evil.com',
      ' //evil.com',
      'http:evil.com',
      'http:/evil.com',
      `http://localhost:${port}@evil.com`,
      `http://localhost:${port}@evil.com/`,
      `http://evil.com#@localhost:${port}`,
      `http://evil.com\\@localhost:${port}`,
      `http://evil.com?@localhost:${port}/`,
      'javascript:alert(1)',
      'JaVaScRiPt:alert(1)',
      'data:text/html,<script>alert(1)</script>',
      `http://nosuch-zzzz.localhost:${port}/`,
      `http://localhost.evil.com:${port}/`,
      `https://localhost:${port}/`,
    ];

    /** Every Location the edge sent must resolve to our own names (or the IdP, from /auth/start). */
    function assertOwnNames(hops: readonly Hop[], payload: string): void {
      const own = new Set([edge.domain, socketA.publicHost, socketB.publicHost, socketC.publicHost]);
      for (const hop of hops) {
        const from = new URL(hop.url);
        if (!own.has(from.host) || hop.rawLocation === undefined) continue;
        const to = new URL(hop.rawLocation, from);
        const toIdp = from.pathname.startsWith('/auth/start/') && to.origin === idp.issuer;
        assert.ok(to.protocol === 'http:' && (own.has(to.host) || toIdp), `rd=${JSON.stringify(payload)}: ${hop.url} redirected to ${hop.rawLocation}`);
        assert.doesNotMatch(hop.rawLocation, /^\s*(\/\/|\/\\|\\|javascript:|data:)/i, `rd=${JSON.stringify(payload)}: Location ${hop.rawLocation}`);
      }
    }

    it('lands a signed-in browser on our own names only, whatever `rd` says', async () => {
      const client = await signedIn('bob');
      for (const payload of payloads(edge.port)) {
        const nav = await client.navigate(`${loginUrl()}?rd=${encodeURIComponent(payload)}`, { maxHops: 8 });
        assertOwnNames(nav.hops, payload);
        const landed = new URL(nav.last.url);
        assert.ok([edge.domain, socketA.publicHost].includes(landed.host), `rd=${JSON.stringify(payload)} landed on ${nav.last.url}`);
      }
    });

    it('lands on our own names after a full OIDC sign-in too', async () => {
      for (const payload of ['//evil.com', 'https://evil.com', '/\\evil.com', `http://localhost:${edge.port}@evil.com`, 'javascript:alert(1)', `http://nosuch-zzzz.localhost:${edge.port}/`]) {
        const client = new WebClient('fresh');
        const nav = await client.navigate(`${loginUrl()}?rd=${encodeURIComponent(payload)}`, { login: 'bob', maxHops: 15 });
        assertOwnNames(nav.hops, payload);
        assert.equal(new URL(nav.last.url).host, edge.domain, `rd=${JSON.stringify(payload)} landed on ${nav.last.url}`);
        // The same through the provider's start URL.
        const viaStart = await new WebClient('fresh2').navigate(`${edge.url}/auth/start/corp-sso?rd=${encodeURIComponent(payload)}`, { login: 'bob', maxHops: 15 });
        assertOwnNames(viaStart.hops, payload);
        assert.equal(new URL(viaStart.last.url).host, edge.domain, `start rd=${JSON.stringify(payload)} landed on ${viaStart.last.url}`);
      }
    });

    it('keeps a legitimate socket target, path and query intact', async () => {
      const client = await signedIn('bob');
      const nav = await client.navigate(`${loginUrl()}?rd=${encodeURIComponent(`${originA()}/deep/path?x=1&y=2`)}`);
      assert.equal(nav.last.url, `${originA()}/deep/path?x=1&y=2`);
      assert.equal(nav.last.status, 200);
      const edgePath = await client.navigate(`${loginUrl()}?rd=${encodeURIComponent('/auth/signout')}`);
      assert.equal(new URL(edgePath.last.url).host, edge.domain);
    });
  });

  describe('identity headers and credentials', () => {
    const FORGED = 'forged@evil.test';

    async function verifiedAssertion(token: unknown, audience: string) {
      assert.equal(typeof token, 'string', 'one assertion header');
      const { payload } = await jwtVerify(token as string, createLocalJWKSet(jwks), {
        issuer: edge.url,
        audience,
        algorithms: ['ES256'],
        typ: 'postern-assertion+jwt',
      });
      return payload;
    }

    it('never forwards client-sent identity headers, in any spelling, and still sets its own', async () => {
      const client = await signedIn('bob');
      const cookie = `postern_session=${client.cookie(originA(), 'postern_session')}`;
      const forgedAssertion = 'eyJhbGciOiJub25lIn0.eyJlbWFpbCI6ImZvcmdlZEBldmlsLnRlc3QifQ.';
      const variants: [string, string][] = [
        ['case and duplicates', `X-Auth-Email: ${FORGED}\r\nx-auth-email: ${FORGED}\r\nX-AUTH-USER: forged-user\r\nX-Postern-Assertion: ${forgedAssertion}\r\nx-postern-assertion: ${forgedAssertion}\r\n`],
        ['named in Connection', `Connection: X-Auth-Email, X-Auth-User, X-Postern-Assertion, X-Forwarded-For, X-Forwarded-Host\r\nX-Auth-Email: ${FORGED}\r\n`],
        ['forwarding headers', `Forwarded: for=1.2.3.4;host=forged.test\r\nX-Forwarded-For: 6.6.6.6, forged\r\nX-Forwarded-Host: forged.test\r\nX_Forwarded_Proto: forged\r\nX-Real-IP: forged\r\n`],
      ];
      for (const [what, extra] of variants) {
        const before = appA.requests.length;
        const res = await rawHttp(edge.port, `GET /headers HTTP/1.1\r\nHost: ${socketA.publicHost}\r\nCookie: ${cookie}\r\n${extra}Connection: close\r\n\r\n`);
        assert.equal(res.status, 200, `${what}: ${res.head}`);
        const seen = appA.requests.slice(before);
        assert.equal(seen.length, 1, what);
        const raw = seen[0]!.rawHeaders;
        assert.doesNotMatch(raw.join('\n'), /forged/i, `${what}: nothing forged reaches the app:\n${raw.join('\n')}`);
        assert.equal(seen[0]!.headers['x-auth-email'], 'bob@example.com', `${what}: the edge's own X-Auth-Email is set`);
        assert.equal(seen[0]!.headers['x-forwarded-for'], '127.0.0.1', `${what}: the edge's own X-Forwarded-For is set`);
        assert.equal(seen[0]!.headers['x-forwarded-host'], socketA.publicHost, `${what}: the edge's own X-Forwarded-Host is set`);
        assert.equal(raw.filter((h) => h.toLowerCase() === 'x-auth-email').length, 1, `${what}: exactly one X-Auth-Email`);
        assert.equal(raw.filter((h) => h.toLowerCase() === 'x-postern-assertion').length, 1, `${what}: exactly one assertion`);
        const payload = await verifiedAssertion(seen[0]!.headers['x-postern-assertion'], originA());
        assert.equal(payload.email, 'bob@example.com');
      }
    });

    it('never forwards any client-sent X-Forwarded-* header (X-Forwarded-Email, -User, -Groups… are identity headers elsewhere)', async () => {
      // Apps moved from oauth2-proxy trust X-Forwarded-Email / X-Forwarded-User; SECURITY.md rule 2 strips all X-Forwarded-*.
      const client = await signedIn('bob');
      const cookie = `postern_session=${client.cookie(originA(), 'postern_session')}`;
      const leaked: string[] = [];
      for (const name of ['X-Forwarded-Email', 'X-Forwarded-User', 'X-Forwarded-Preferred-Username', 'X-Forwarded-Groups', 'X-Forwarded-Access-Token', 'X-Forwarded-Uri', 'X-Forwarded-Port']) {
        const before = appA.requests.length;
        const res = await rawHttp(edge.port, `GET /headers HTTP/1.1\r\nHost: ${socketA.publicHost}\r\nCookie: ${cookie}\r\n${name}: ${FORGED}\r\nConnection: close\r\n\r\n`);
        const seen = appA.requests.slice(before);
        if (res.status === 400) {
          assert.equal(seen.length, 0, `${name}: refused before the app`);
          continue;
        }
        assert.equal(res.status, 200, `${name}: ${res.head}`);
        if (seen[0]!.rawHeaders.some((h) => /forged/i.test(h))) leaked.push(name);
      }
      assert.deepEqual(leaked, [], `client-sent headers that reached the app: ${leaked.join(', ')}`);
    });

    it('never forwards underscore variants (x_auth_email, X_Postern_Assertion): refused or stripped', async () => {
      const client = await signedIn('bob');
      const cookie = `postern_session=${client.cookie(originA(), 'postern_session')}`;
      for (const name of ['X_Auth_Email', 'x_auth_email', 'X_AUTH_USER', 'X_Postern_Assertion', 'x-auth_email']) {
        const before = appA.requests.length;
        const res = await rawHttp(edge.port, `GET /headers HTTP/1.1\r\nHost: ${socketA.publicHost}\r\nCookie: ${cookie}\r\n${name}: ${FORGED}\r\nConnection: close\r\n\r\n`);
        const seen = appA.requests.slice(before);
        if (res.status === 400) {
          assert.equal(seen.length, 0, `${name}: refused before the app`);
          continue;
        }
        assert.equal(res.status, 200, `${name}: ${res.head}`);
        assert.doesNotMatch(seen[0]!.rawHeaders.join('\n'), /forged/i, `${name} reached the app:\n${seen[0]!.rawHeaders.join('\n')}`);
        assert.equal(seen[0]!.headers['x-auth-email'], 'bob@example.com');
      }
    });

    it('strips client identity headers on a public socket too, and tells its app nothing', async () => {
      const before = appB.requests.length;
      const res = await rawHttp(
        edge.port,
        `GET /headers HTTP/1.1\r\nHost: ${socketB.publicHost}\r\nX-Auth-Email: ${FORGED}\r\nX-Auth-User: forged-user\r\nX-Postern-Assertion: forged\r\nConnection: close\r\n\r\n`,
      );
      assert.equal(res.status, 200, res.head);
      const seen = appB.requests.slice(before);
      assert.equal(seen.length, 1);
      assert.doesNotMatch(seen[0]!.rawHeaders.join('\n'), /forged/i, seen[0]!.rawHeaders.join('\n'));
      assert.equal(seen[0]!.headers['x-auth-email'], undefined);
      assert.equal(seen[0]!.headers['x-postern-assertion'], undefined);
    });

    it("drops the app's Set-Cookie for reserved cookie names and keeps its own cookies", async () => {
      const client = await signedIn('bob');
      const hop = await client.fetch(`${originA()}/set-cookies`);
      assert.equal(hop.status, 200);
      const names = hop.setCookies.map((c) => c.slice(0, c.indexOf('=')).toLowerCase());
      assert.ok(names.includes('app_pref'), `the app's own cookie passes: ${hop.setCookies.join(' | ')}`);
      for (const reserved of ['postern_session', 'postern_login', 'postern_tx', '__host-postern_session']) {
        assert.ok(!names.includes(reserved), `${reserved} from the app never reaches the browser: ${hop.setCookies.join(' | ')}`);
      }
      assert.notEqual(client.cookie(originA(), 'postern_session'), 'planted-by-app');
      // The same on a public socket.
      const pub = await new WebClient('pub').fetch(`${originB()}/set-cookies`);
      assert.ok(!pub.setCookies.some((c) => /^(__host-)?postern_/i.test(c)), pub.setCookies.join(' | '));
    });

    it("never forwards the edge's cookies to the app, but forwards the app's own", async () => {
      const client = await signedIn('bob');
      const before = appA.requests.length;
      const session = client.cookie(originA(), 'postern_session');
      const res = await request({
        port: edge.port,
        host: socketA.publicHost,
        path: '/headers',
        headers: { cookie: `app_pref=dark; postern_session=${session}; Postern_Login=abc; postern_tx=def; __Host-postern_session=ghi; other=1` },
      });
      assert.equal(res.status, 200);
      const seen = appA.requests.slice(before)[0]!;
      assert.doesNotMatch(String(seen.headers.cookie), /postern/i, String(seen.headers.cookie));
      assert.match(String(seen.headers.cookie), /app_pref=dark/);
      assert.match(String(seen.headers.cookie), /other=1/);
    });

    it('accepts a Postern token of an allowed user instead of a cookie, and never forwards it', async () => {
      for (const [token, email] of [[carolToken, 'carol@example.com'], [aliceToken, 'alice@example.com']] as const) {
        const before = appA.requests.length;
        const res = await request({
          port: edge.port,
          host: socketA.publicHost,
          path: '/headers',
          headers: { authorization: `Bearer ${token}`, accept: 'application/json', 'x-auth-email': FORGED },
        });
        assert.equal(res.status, 200, res.body.toString('utf8').slice(0, 300));
        const seen = appA.requests.slice(before)[0]!;
        assert.equal(seen.headers.authorization, undefined, 'the token does not reach the app');
        assert.doesNotMatch(seen.rawHeaders.join('\n'), /pst_|forged/i);
        assert.equal(seen.headers['x-auth-email'], email);
        const payload = await verifiedAssertion(seen.headers['x-postern-assertion'], originA());
        assert.equal(payload.email, email);
      }
    });

    it("never hands a Postern token to a public socket's app (the app may be anyone's)", async () => {
      const before = appB.requests.length;
      const res = await request({ port: edge.port, host: socketB.publicHost, path: '/headers', headers: { authorization: `Bearer ${carolToken}` } });
      assert.equal(res.status, 200);
      const seen = appB.requests.slice(before)[0]!;
      assert.equal(seen.headers.authorization, undefined);
      assert.doesNotMatch(seen.rawHeaders.join('\n'), /pst_/);
      // The app's own credentials still pass through.
      const basic = `Basic ${Buffer.from('app:secret').toString('base64')}`;
      await request({ port: edge.port, host: socketB.publicHost, path: '/headers', headers: { authorization: basic } });
      assert.equal(appB.requests.at(-1)!.headers.authorization, basic);
    });

    it('refuses a token of a user outside the rules (403) and garbage tokens (401), over HTTP and WebSocket', async () => {
      const before = appA.requests.length;
      const outsider = await request({ port: edge.port, host: socketA.publicHost, path: '/headers', headers: { authorization: `Bearer ${daveToken}`, accept: 'application/json' } });
      assert.equal(outsider.status, 403);
      assert.equal(outsider.headers['postern-error'], 'POLICY_DENIED');
      for (const garbage of ['pst_garbage', 'pst_', `${carolToken}x`, `${carolToken.slice(0, -2)}`]) {
        const res = await request({ port: edge.port, host: socketA.publicHost, path: '/headers', headers: { authorization: `Bearer ${garbage}`, accept: 'application/json' } });
        assert.equal(res.status, 401, `Bearer ${garbage.slice(0, 8)}…: ${res.status}`);
      }
      const notOurs = await request({ port: edge.port, host: socketA.publicHost, path: '/headers', headers: { authorization: 'Bearer not-a-postern-token', accept: 'application/json' } });
      assert.equal(notOurs.status, 401);
      const basic = await request({ port: edge.port, host: socketA.publicHost, path: '/headers', headers: { authorization: `Basic ${Buffer.from('alice@example.com:pw').toString('base64')}`, accept: 'application/json' } });
      assert.equal(basic.status, 401);
      assert.equal(appA.requests.length, before, 'nothing reached the app');
      // A token over a WebSocket follows the same policy.
      const ws = await rawUpgrade(edge.port, socketA.publicHost, '/ws', { authorization: `Bearer ${daveToken}`, accept: 'application/json' });
      release(ws);
      assert.equal(ws.status, 403);
    });
  });
});

describe('session expiry closes long-lived connections', () => {
  const tmp = makeTempDir('identity-expiry');
  let edge: EdgeProcess;
  let idp: TestIdp;
  let app: IdentityApp;
  let socket: ConnectorProcess;

  before(async () => {
    const db = `${tmp.dir}/edge.db`;
    const alice = await createAccount(db, 'alice@example.com');
    ({ edge, idp } = await startEdgeWithIdp({
      db,
      dir: tmp.dir,
      extraArgs: ['--session-ttl', '3s'],
      accounts: { bob: { sub: 'bob-sub', email: 'bob@example.com', email_verified: true } },
    }));
    app = await IdentityApp.start('expiring');
    socket = await ConnectorProcess.start({ edge, token: alice, appPort: app.port, args: ['--name', 'short', '--cloudauth', '--allowed-email-domains', 'example.com'] });
  });

  after(async () => {
    await killAll();
    await Promise.all([app?.close(), idp?.close()]);
    tmp.remove();
  });

  it('closes an open WebSocket within a bounded time after its session expires (--session-ttl 3s)', async () => {
    const origin = `http://${socket.publicHost}`;
    const client = new WebClient('expiring');
    const signedInAt = Date.now();
    const nav = await client.navigate(`${origin}/headers`, { login: 'bob' });
    assert.equal(nav.last.status, 200);
    const cookie = `postern_session=${client.cookie(origin, 'postern_session')}`;
    const ws = await openWebSocket(edge.port, socket.publicHost, '/ws', { cookie, origin });
    ws.send('still here?');
    assert.equal((await nextMessage(ws, 5_000)).data.toString('utf8'), 'still here?');
    const { code } = await closeOf(ws, 25_000);
    const closedAfter = Date.now() - signedInAt;
    assert.ok(closedAfter >= 2_500, `not before the session ends (closed after ${closedAfter} ms, code ${code})`);
    assert.ok(closedAfter <= 25_000, `closed ${closedAfter} ms after sign-in`);
    const res = await request({ port: edge.port, host: socket.publicHost, path: '/headers', headers: { cookie, accept: 'application/json' } });
    assert.equal(res.status, 401, 'the expired cookie no longer works');
  });
});
