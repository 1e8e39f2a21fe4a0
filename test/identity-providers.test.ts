import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { chromiumAvailable, continueIfAsked, launchChromium, screenshot } from './lib/browser.js';
import { GithubMock } from './lib/github-mock.js';
import { request } from './lib/http.js';
import { IdentityApp } from './lib/identity-app.js';
import { ConnectorProcess, EdgeProcess, createAccount, makeTempDir, runCli } from './lib/postern.js';
import { killAll } from './lib/process.js';

const GITHUB_CLIENT_ID = 'Iv1.postern-test';
const GITHUB_CLIENT_SECRET = 'github-test-secret-3c9a';
const CAROL_PASSWORD = 'correct horse battery staple';

/**
 * GitHub sign-in (a mock GitHub at the HTTP boundary, via --github-web-url/--github-api-url) with
 * org rules, and local-account sign-in with the edge's own form, both in real Chromium.
 */
describe('identity in Chromium: GitHub and local accounts', { skip: !chromiumAvailable() && 'no /usr/bin/chromium' }, () => {
  const tmp = makeTempDir('identity-providers');
  let edge: EdgeProcess;
  let github: GithubMock;
  let browser: Browser;
  /** Sign-in required; members of the GitHub org `acme`. */
  let appG: IdentityApp;
  let socketG: ConnectorProcess;
  /** Sign-in required; only carol@example.com. */
  let appL: IdentityApp;
  let socketL: ConnectorProcess;
  const contexts: BrowserContext[] = [];

  const originG = () => `http://${socketG.publicHost}`;
  const originL = () => `http://${socketL.publicHost}`;

  before(async () => {
    const db = `${tmp.dir}/edge.db`;
    const alice = await createAccount(db, 'alice@example.com');
    const pwFile = `${tmp.dir}/carol.pw`;
    writeFileSync(pwFile, `${CAROL_PASSWORD}\n`, { mode: 0o600 });
    const added = await runCli(['admin', 'user', 'add', 'carol@example.com', '--db', db, '--password-file', pwFile]);
    assert.equal(added.code, 0, added.stderr.join('\n'));
    const dan = await runCli(['admin', 'user', 'add', 'dan@example.com', '--db', db, '--password-file', pwFile]);
    assert.equal(dan.code, 0, dan.stderr.join('\n'));
    github = await GithubMock.start({
      clientId: GITHUB_CLIENT_ID,
      clientSecret: GITHUB_CLIENT_SECRET,
      users: [
        {
          id: 101,
          login: 'octo',
          name: 'Octo Cat',
          emails: [
            { email: 'octo-old@example.net', primary: false, verified: true },
            { email: 'Octo@Users.Example.com', primary: true, verified: true, visibility: 'public' },
          ],
          orgs: ['Acme', 'octo-friends'],
          teams: [{ org: 'Acme', slug: 'platform' }],
        },
        { id: 202, login: 'stranger', name: 'Stranger', emails: [{ email: 'stranger@example.org', primary: true, verified: true }], orgs: ['not-acme'] },
        {
          id: 303,
          login: 'sneaky',
          name: 'Sneaky',
          // Claims carol's address as primary without verifying it; a verified secondary does not count either.
          emails: [
            { email: 'carol@example.com', primary: true, verified: false },
            { email: 'sneaky@example.org', primary: false, verified: true },
          ],
          orgs: [],
        },
      ],
    });
    const secretFile = `${tmp.dir}/github.secret`;
    writeFileSync(secretFile, `${GITHUB_CLIENT_SECRET}\n`, { mode: 0o600 });
    edge = await EdgeProcess.start({
      db,
      extraArgs: [
        '--github-client-id', GITHUB_CLIENT_ID,
        '--github-client-secret-file', secretFile,
        '--github-web-url', github.url,
        '--github-api-url', github.url,
        '--local-accounts',
      ],
    });
    appG = await IdentityApp.start('App G (GitHub org acme)');
    appL = await IdentityApp.start('App L (carol only)');
    socketG = await ConnectorProcess.start({ edge, token: alice, appPort: appG.port, label: 'connect:G', args: ['--name', 'gh', '--allowed-github-orgs', 'acme'] });
    socketL = await ConnectorProcess.start({ edge, token: alice, appPort: appL.port, label: 'connect:L', args: ['--name', 'local', '--cloudauth', '--allowed-email-addresses', 'carol@example.com'] });
    browser = await launchChromium();
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await killAll();
    await appG?.close();
    await appL?.close();
    await github?.close();
    tmp.remove();
  });

  async function newPage(): Promise<Page> {
    const context = await browser.newContext();
    context.setDefaultTimeout(10_000);
    context.setDefaultNavigationTimeout(10_000);
    contexts.push(context);
    return context.newPage();
  }

  async function chooser(page: Page, url: string): Promise<void> {
    await page.goto(url);
    await page.waitForURL((u) => u.host === edge.domain && u.pathname === '/auth/login');
    assert.ok(await page.getByText('Continue with GitHub').isVisible());
    assert.ok(await page.getByText('Continue with a Postern account').isVisible());
  }

  async function githubSignIn(page: Page, login: string, url: string): Promise<void> {
    github.nextLogin = login;
    await chooser(page, url);
    await page.click('text=Continue with GitHub');
    await continueIfAsked(page, url);
    await page.waitForURL((u) => u.origin === new URL(url).origin && !u.pathname.startsWith('/.postern/'));
  }

  async function jwks(): Promise<JSONWebKeySet> {
    const res = await request({ port: edge.port, host: edge.domain, path: '/.well-known/jwks.json' });
    return JSON.parse(res.body.toString('utf8')) as JSONWebKeySet;
  }

  it('signs in with GitHub (org rule): the app sees the primary verified email and a valid assertion', async () => {
    const page = await newPage();
    const before = appG.requests.length;
    await githubSignIn(page, 'octo', `${originG()}/`);
    assert.equal(page.url(), `${originG()}/`);
    assert.equal((await page.textContent('#who'))?.trim(), 'X-Auth-Email: octo@users.example.com');
    const seen = appG.requests.slice(before).filter((r) => r.url === '/');
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.headers['x-auth-email'], 'octo@users.example.com', 'primary + verified, lower-cased');
    assert.equal(seen[0]!.headers['x-auth-user'], 'Octo Cat');
    const { payload } = await jwtVerify(String(seen[0]!.headers['x-postern-assertion']), createLocalJWKSet(await jwks()), {
      issuer: edge.url,
      audience: originG(),
      algorithms: ['ES256'],
      typ: 'postern-assertion+jwt',
    });
    assert.equal(payload.email, 'octo@users.example.com');

    // What the edge did at GitHub: state + PKCE S256 at authorize, then the documented API calls.
    assert.deepEqual(github.complaints, []);
    const authorize = github.requests.find((r) => r.path === '/login/oauth/authorize')!;
    assert.ok(authorize.query.get('state'), 'a state');
    assert.equal(authorize.query.get('code_challenge_method'), 'S256');
    assert.equal(authorize.query.get('redirect_uri'), `${edge.url}/auth/callback`);
    const apiPaths = new Set(github.requests.filter((r) => r.path.startsWith('/user')).map((r) => r.path));
    assert.deepEqual([...apiPaths].sort(), ['/user', '/user/emails', '/user/orgs', '/user/teams']);
  });

  it('shows the 403 page to a GitHub user outside the org', async () => {
    const page = await newPage();
    const before = appG.requests.length;
    await githubSignIn(page, 'stranger', `${originG()}/`);
    const res = await page.reload();
    assert.equal(res?.status(), 403);
    const text = (await page.textContent('body')) ?? '';
    assert.match(text, /stranger@example\.org/);
    assert.match(text, /not allowed/);
    assert.equal(appG.requests.length, before, 'nothing reached the app');
  });

  it('does not count an unverified primary GitHub email (denied by an email rule)', async () => {
    const page = await newPage();
    const before = appL.requests.length;
    await githubSignIn(page, 'sneaky', `${originL()}/`);
    const res = await page.reload();
    assert.equal(res?.status(), 403);
    const text = (await page.textContent('body')) ?? '';
    assert.match(text, /no verified email/i);
    assert.equal(appL.requests.length, before, 'nothing reached the app');
  });

  it('signs in with a local account through the form, and refuses a wrong password', async () => {
    const page = await newPage();
    await chooser(page, `${originL()}/`);
    await page.click('text=Continue with a Postern account');
    await page.waitForURL((u) => u.host === edge.domain && u.pathname.startsWith('/auth/start/local'));
    console.log(`screenshot: ${await screenshot(page, 'local-login-form')}`);

    await page.fill('input[name="email"]', 'carol@example.com');
    await page.fill('input[name="password"]', 'not the password');
    const [wrong] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/auth/local')), page.click('button[type="submit"]')]);
    assert.equal(wrong.status(), 401);
    assert.ok(await page.getByText('Wrong email or password.').isVisible());
    assert.equal((await page.context().cookies()).filter((c) => c.name.startsWith('postern_login') || c.name.startsWith('postern_session')).length, 0, 'no session');

    const before = appL.requests.length;
    await page.fill('input[name="email"]', 'Carol@Example.com');
    await page.fill('input[name="password"]', CAROL_PASSWORD);
    await page.click('button[type="submit"]');
    await continueIfAsked(page, originL());
    await page.waitForURL(`${originL()}/`);
    assert.equal((await page.textContent('#who'))?.trim(), 'X-Auth-Email: carol@example.com');
    assert.equal(appL.requests.slice(before).filter((r) => r.url === '/')[0]?.headers['x-auth-email'], 'carol@example.com');
  });

  it('shows a local account outside the rules the 403 page; an account without a password cannot sign in', async () => {
    const page = await newPage();
    await chooser(page, `${originL()}/`);
    await page.click('text=Continue with a Postern account');
    await page.fill('input[name="email"]', 'alice@example.com');
    await page.fill('input[name="password"]', 'whatever-password');
    const [refused] = await Promise.all([page.waitForResponse((r) => r.url().endsWith('/auth/local')), page.click('button[type="submit"]')]);
    assert.equal(refused.status(), 401, 'alice has no local password');

    const before = appL.requests.length;
    await page.fill('input[name="email"]', 'dan@example.com');
    await page.fill('input[name="password"]', CAROL_PASSWORD);
    await Promise.all([page.waitForURL(`${originL()}/`), page.click('button[type="submit"]')]);
    const res = await page.reload();
    assert.equal(res?.status(), 403);
    const text = (await page.textContent('body')) ?? '';
    assert.match(text, /dan@example\.com/);
    assert.match(text, /not allowed/);
    assert.equal(appL.requests.length, before, 'nothing reached the app');
  });
});
