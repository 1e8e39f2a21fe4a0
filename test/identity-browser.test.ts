import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { chromiumAvailable, continueIfAsked, idpLogin, launchChromium, screenshot } from './lib/browser.js';
import { request } from './lib/http.js';
import { IdentityApp } from './lib/identity-app.js';
import { startEdgeWithIdp, type TestIdp } from './lib/idp.js';
import { ConnectorProcess, createAccount, makeTempDir, type EdgeProcess } from './lib/postern.js';
import { killAll } from './lib/process.js';

/**
 * Real Chromium against a real edge, real connectors and a real OpenID provider (oidc-provider):
 * sign-in, what the app learns, the 403 page, sign-out closing WebSockets, and sibling isolation.
 * The edge offers OIDC and local accounts, so /auth/login shows the chooser.
 */
describe('identity in Chromium: OIDC sign-in, 403, sign-out, sibling sockets', { skip: !chromiumAvailable() && 'no /usr/bin/chromium' }, () => {
  const tmp = makeTempDir('identity-browser');
  let edge: EdgeProcess;
  let idp: TestIdp;
  let browser: Browser;
  /** Alice's socket: sign-in required, anyone @example.com. */
  let appA: IdentityApp;
  let socketA: ConnectorProcess;
  /** Mallory's socket (another account), public: it records whatever the browser sends it. */
  let appB: IdentityApp;
  let socketB: ConnectorProcess;
  const contexts: BrowserContext[] = [];

  const originA = () => `http://${socketA.publicHost}`;
  const originB = () => `http://${socketB.publicHost}`;

  before(async () => {
    const db = `${tmp.dir}/edge.db`;
    const alice = await createAccount(db, 'alice@example.com');
    const mallory = await createAccount(db, 'mallory@attacker.test');
    ({ edge, idp } = await startEdgeWithIdp({
      db,
      dir: tmp.dir,
      extraArgs: ['--local-accounts'],
      accounts: {
        bob: { sub: 'bob-sub-1', email: 'bob@example.com', email_verified: true, name: 'Bob Builder', groups: ['eng', 'ops'] },
        eve: { sub: 'eve-sub-1', email: 'eve@outsider.test', email_verified: true, name: 'Eve Outsider' },
      },
    }));
    appA = await IdentityApp.start('App A (alice)');
    appB = await IdentityApp.start('App B (mallory)');
    socketA = await ConnectorProcess.start({
      edge,
      token: alice,
      appPort: appA.port,
      label: 'connect:A',
      args: ['--name', 'alpha', '--cloudauth', '--allowed-email-domains', 'example.com'],
    });
    socketB = await ConnectorProcess.start({ edge, token: mallory, appPort: appB.port, label: 'connect:B', args: ['--name', 'bravo'] });
    browser = await launchChromium();
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await killAll();
    await appA?.close();
    await appB?.close();
    await idp?.close();
    tmp.remove();
  });

  async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext();
    context.setDefaultTimeout(10_000);
    context.setDefaultNavigationTimeout(10_000);
    contexts.push(context);
    return { context, page: await context.newPage() };
  }

  /** From a socket URL through the chooser and the IdP's login form back to the socket. */
  async function signIn(page: Page, url: string, login: string, shot?: string): Promise<void> {
    await page.goto(url);
    await page.waitForURL((u) => u.host === edge.domain && u.pathname === '/auth/login');
    assert.ok(await page.getByText('Continue with Corp SSO').isVisible(), 'the chooser offers the OIDC provider');
    assert.ok(await page.getByText('Continue with a Postern account').isVisible(), 'the chooser offers local accounts');
    if (shot) console.log(`screenshot: ${await screenshot(page, shot)}`);
    await page.click('text=Continue with Corp SSO');
    await idpLogin(page, login, idp.issuer);
    await continueIfAsked(page, url);
    await page.waitForURL((u) => u.origin === new URL(url).origin && !u.pathname.startsWith('/.postern/'));
  }

  it('signs in with OIDC and the app sees X-Auth-Email and an assertion that verifies against the JWKS', async () => {
    const { context, page } = await newPage();
    const before = appA.requests.length;
    await signIn(page, `${originA()}/`, 'bob', 'login-chooser');
    assert.equal(page.url(), `${originA()}/`, 'back where the person was going');
    assert.equal((await page.textContent('#who'))?.trim(), 'X-Auth-Email: bob@example.com');

    // The app saw the identity, and nothing of the edge's cookies.
    const seen = appA.requests.slice(before).filter((r) => r.url === '/');
    assert.equal(seen.length, 1, 'exactly one request reached the app (after the sign-in)');
    const headers = seen[0]!.headers;
    assert.equal(headers['x-auth-email'], 'bob@example.com');
    assert.equal(headers['x-auth-user'], 'Bob Builder');
    assert.doesNotMatch(String(headers.cookie ?? ''), /postern/i, 'no edge cookie reaches the app');
    assert.equal(headers.authorization, undefined);

    // The assertion verifies against the edge's JWKS: signature, alg, typ, iss, aud.
    const token = String(headers['x-postern-assertion']);
    const jwksRes = await request({ port: edge.port, host: edge.domain, path: '/.well-known/jwks.json' });
    assert.equal(jwksRes.status, 200);
    const jwks = JSON.parse(jwksRes.body.toString('utf8')) as JSONWebKeySet;
    const socketJwks = await request({ port: edge.port, host: socketA.publicHost, path: '/.postern/jwks.json' });
    assert.equal(socketJwks.status, 200);
    assert.deepEqual(JSON.parse(socketJwks.body.toString('utf8')), jwks, 'the socket host publishes the same JWKS');
    assert.ok(jwks.keys.length >= 1 && jwks.keys.every((k) => k.d === undefined), 'public keys only');
    assert.equal(decodeProtectedHeader(token).alg, 'ES256');
    const { payload, protectedHeader } = await jwtVerify(token, createLocalJWKSet(jwks), {
      issuer: edge.url,
      audience: originA(),
      algorithms: ['ES256'],
      typ: 'postern-assertion+jwt',
    });
    assert.equal(protectedHeader.typ, 'postern-assertion+jwt');
    assert.equal(payload.email, 'bob@example.com');
    assert.deepEqual(payload.groups, ['eng', 'ops']);
    assert.ok(typeof payload.sub === 'string' && payload.sub.length > 0);
    assert.ok(typeof payload.jti === 'string' && payload.jti.length > 0);
    assert.ok(typeof payload.iat === 'number' && typeof payload.exp === 'number');
    assert.ok(payload.exp! > payload.iat! && payload.exp! - payload.iat! <= 600, `short lifetime (${payload.exp! - payload.iat!} s)`);
    // The same token is worthless to a sibling: its audience is socket A's origin only.
    await assert.rejects(
      jwtVerify(token, createLocalJWKSet(jwks), { issuer: edge.url, audience: originB(), algorithms: ['ES256'] }),
      /aud/,
    );

    // Cookies: the socket's own cookie is host-only, HttpOnly, SameSite=Lax; nothing on the parent domain.
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === 'postern_session');
    assert.ok(session, `a socket session cookie: ${JSON.stringify(cookies)}`);
    assert.equal(session.domain, new URL(originA()).hostname, 'host-only, on the socket host');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Lax');
    for (const c of cookies.filter((c) => c.name.startsWith('postern') || c.name.startsWith('__Host-'))) {
      assert.ok(!c.domain.startsWith('.'), `no Domain attribute on ${c.name} (${c.domain})`);
      assert.ok(c.domain === 'localhost' || c.domain === new URL(originA()).hostname, `${c.name} is on the edge or socket A host only (${c.domain})`);
    }
  });

  it('shows the 403 page to a signed-in user outside the rules, with sign-out and switch-account', async () => {
    const { page } = await newPage();
    const before = appA.requests.length;
    await signIn(page, `${originA()}/`, 'eve');
    const reloaded = await page.reload();
    assert.equal(reloaded?.status(), 403);
    const text = (await page.textContent('body')) ?? '';
    assert.match(text, /Signed in as/);
    assert.match(text, /eve@outsider\.test/);
    assert.ok(text.includes(socketA.publicHost), 'names the socket');
    assert.match(text, /eve@outsider\.test is not allowed by this socket's rules/, 'says why');
    assert.ok(await page.getByText('Switch account').isVisible());
    assert.ok(await page.getByText('Sign out').isVisible());
    assert.equal(appA.requests.length, before, 'nothing reached the app');
    console.log(`screenshot: ${await screenshot(page, 'forbidden-403')}`);

    const switchHref = await page.getAttribute('text=Switch account', 'href');
    assert.ok(switchHref?.startsWith(`${edge.url}/auth/login?`), `switch account goes to the edge's login (${switchHref})`);

    await page.click('text=Sign out');
    await page.waitForURL(`${originA()}/.postern/signout`);
    assert.match((await page.textContent('body')) ?? '', /eve@outsider\.test/);
    assert.ok(await page.getByText('Sign out of this app').isVisible());
    assert.ok(await page.getByText('Sign out everywhere').isVisible());
    console.log(`screenshot: ${await screenshot(page, 'signout-confirm')}`);
  });

  it("signs out in another tab from the socket's confirmation page: the first tab's WebSocket closes, a new sign-in is needed", async () => {
    const { context, page } = await newPage();
    await signIn(page, `${originA()}/`, 'bob');
    const opened = await page.evaluate(`new Promise((resolve, reject) => {
      const ws = new WebSocket(${JSON.stringify(`ws://${socketA.publicHost}/ws`)});
      window.__closed = new Promise((r) => ws.addEventListener('close', () => r(Date.now())));
      ws.onopen = () => resolve('open');
      ws.onerror = () => reject(new Error('WebSocket error'));
      setTimeout(() => reject(new Error('not open within 5 s')), 5000);
    })`);
    assert.equal(opened, 'open');

    const other = await context.newPage();
    await other.goto(`${originA()}/.postern/signout`);
    // A socket's page offers "everywhere" only as a link to the edge's own confirmation page.
    await other.getByText('Sign out everywhere').waitFor();
    await Promise.all([other.waitForURL(`${edge.url}/auth/signout`), other.click('text=Sign out everywhere')]);
    const clickedAt = Date.now();
    await other.click('button:has-text("Sign out everywhere")');
    await other.waitForLoadState();
    const after = (await other.textContent('body')) ?? '';
    if (!after.includes('You are signed out')) console.log(`screenshot: ${await screenshot(other, 'signout-refused')}`);
    assert.match(after, /You are signed out/, `the confirmation form signs out (the edge answered: ${after.replace(/\s+/g, ' ').slice(-200)})`);
    console.log(`screenshot: ${await screenshot(other, 'signed-out-everywhere')}`);

    const closedAt = (await page.evaluate(`Promise.race([window.__closed, new Promise((r) => setTimeout(() => r(null), 5000))])`)) as number | null;
    assert.ok(closedAt !== null, 'the first tab\'s WebSocket closed within 5 s');
    assert.ok(closedAt - clickedAt < 5_000);
    // Signed out everywhere: the socket sends the browser to sign in again.
    await page.goto(`${originA()}/`);
    await page.waitForURL((u) => u.host === edge.domain && u.pathname === '/auth/login');
  });

  it("signs out on the edge's own host from its confirmation page", async () => {
    const { context, page } = await newPage();
    await signIn(page, `${originA()}/`, 'bob');
    await page.goto(`${edge.url}/auth/signout`);
    assert.match((await page.textContent('body')) ?? '', /bob@example\.com/);
    console.log(`screenshot: ${await screenshot(page, 'edge-signout-confirm')}`);
    await page.click('text=Sign out everywhere');
    await page.waitForLoadState();
    const after = (await page.textContent('body')) ?? '';
    assert.match(after, /You are signed out/, `the edge's confirmation form signs out (it answered: ${after.replace(/\s+/g, ' ').slice(-200)})`);
    const left = (await context.cookies()).filter((c) => c.name.startsWith('postern_login'));
    assert.deepEqual(left, [], 'the login cookie is cleared');
  });

  it('closes an open WebSocket at once when its session is signed out by another request', async () => {
    const { context, page } = await newPage();
    await signIn(page, `${originA()}/`, 'bob');
    const wsUrl = `ws://${socketA.publicHost}/ws`;
    const echoed = await page.evaluate(`new Promise((resolve, reject) => {
      const ws = new WebSocket(${JSON.stringify(wsUrl)});
      window.__ws = ws;
      window.__closed = new Promise((r) => ws.addEventListener('close', (e) => r({ code: e.code, at: Date.now() })));
      ws.onopen = () => ws.send('ping through postern');
      ws.onmessage = (m) => resolve(String(m.data));
      ws.onerror = () => reject(new Error('WebSocket error before the echo'));
      setTimeout(() => reject(new Error('no echo within 5 s')), 5000);
    })`);
    assert.equal(echoed, 'ping through postern');
    const upgrade = appA.requests.filter((r) => r.upgrade).at(-1);
    assert.equal(upgrade?.headers['x-auth-email'], 'bob@example.com', 'the WebSocket carried the identity');

    // Sign out "in another request": the same cookie, posted from the socket's own origin.
    const session = (await context.cookies(originA())).find((c) => c.name === 'postern_session');
    assert.ok(session, 'signed in to socket A');
    const signedOutAt = Date.now();
    const signout = await request({
      port: edge.port,
      host: socketA.publicHost,
      method: 'POST',
      path: '/.postern/signout',
      headers: { cookie: `postern_session=${session.value}`, origin: originA(), 'content-type': 'application/x-www-form-urlencoded' },
      body: Buffer.from('scope=here'),
    });
    assert.equal(signout.status, 200, signout.body.toString('utf8').slice(-300));
    assert.match(signout.body.toString('utf8'), /You are signed out/);

    const closed = (await page.evaluate(
      `Promise.race([window.__closed, new Promise((r) => setTimeout(() => r(null), 5000))])`,
    )) as { code: number; at: number } | null;
    assert.ok(closed, 'the WebSocket closed within 5 s of the sign-out');
    assert.ok(closed.at - signedOutAt < 5_000, `closed ${closed.at - signedOutAt} ms after the sign-out`);

    // And a new one is refused (the browser still holds the cookie, but its session is revoked).
    const reopened = await page.evaluate(`new Promise((resolve) => {
      const ws = new WebSocket(${JSON.stringify(wsUrl)});
      ws.onopen = () => { resolve('opened'); ws.close(); };
      ws.onerror = () => resolve('refused');
      setTimeout(() => resolve('timeout'), 5000);
    })`);
    assert.equal(reopened, 'refused');

    // The browser's cookie is still there (the sign-out came from another client) but revoked.
    const other = await context.newPage();
    const res = await other.goto(`${originA()}/.postern/signout`);
    assert.equal(res?.status(), 200);
    await other.getByRole('heading', { name: 'You are signed out' }).waitFor();
    console.log(`screenshot: ${await screenshot(other, 'signed-out')}`);
  });

  it("gives a sibling socket of another account none of the first socket's cookies or credentials", async () => {
    const { context, page } = await newPage();
    await signIn(page, `${originA()}/`, 'bob');
    const beforeB = appB.requests.length;
    const res = await page.goto(`${originB()}/headers`);
    assert.equal(res?.status(), 200, 'the public sibling serves the browser');
    const seen = appB.requests.slice(beforeB);
    assert.ok(seen.length >= 1, 'the request reached app B');
    for (const r of seen) {
      const raw = r.rawHeaders.join('\n');
      assert.doesNotMatch(String(r.headers.cookie ?? ''), /postern/i, `no postern cookie at B: ${raw}`);
      assert.equal(r.headers['x-auth-email'], undefined, `no X-Auth-Email at B: ${raw}`);
      assert.equal(r.headers['x-auth-user'], undefined, `no X-Auth-User at B: ${raw}`);
      assert.equal(r.headers['x-postern-assertion'], undefined, `no assertion at B: ${raw}`);
      assert.equal(r.headers.authorization, undefined, `no Authorization at B: ${raw}`);
      assert.doesNotMatch(raw, /bob@example\.com/, 'nothing names the user');
    }
    const bCookies = await context.cookies(originB());
    assert.deepEqual(bCookies.filter((c) => c.name.toLowerCase().includes('postern')), [], 'the browser holds no postern cookie for B');

    // Mallory's page script tries to use the victim's session on A: a cross-site WebSocket is refused.
    const beforeA = appA.requests.length;
    const hijack = await page.evaluate(`new Promise((resolve) => {
      const ws = new WebSocket(${JSON.stringify(`ws://${socketA.publicHost}/ws`)});
      ws.onopen = () => { resolve('opened'); ws.close(); };
      ws.onerror = () => resolve('refused');
      setTimeout(() => resolve('timeout'), 5000);
    })`);
    assert.equal(hijack, 'refused', 'a WebSocket from a sibling origin never opens');
    assert.equal(appA.requests.slice(beforeA).filter((r) => r.upgrade).length, 0, 'no upgrade reached app A');
  });
});
