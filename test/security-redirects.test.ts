import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext } from 'playwright-core';
import { chromiumAvailable, continueIfAsked, idpLogin, launchChromium } from './lib/browser.js';
import { IdentityApp } from './lib/identity-app.js';
import { startEdgeWithIdp, type TestIdp } from './lib/idp.js';
import { ConnectorProcess, createAccount, makeTempDir, type EdgeProcess } from './lib/postern.js';
import { killAll } from './lib/process.js';
import { redirectCorpus, type RedirectPayload } from './lib/redirect-corpus.js';
import { inPool, isOwnOrigin, KeepAliveClient, linkProblems, locationProblem, type OwnNames } from './lib/redirect-probe.js';
import { WebClient } from './lib/web-client.js';

const EVIL = 'evil.com';
/** Parameter names other products use for a post-logout or return target: the edge honours none of them. */
const TARGET_ALIASES = ['rd', 'next', 'return_to', 'returnTo', 'redirect', 'redirect_uri', 'post_logout_redirect_uri', 'url', 'continue'];

/**
 * Open redirects (SECURITY.md rule 6), the acceptance corpus: every generated payload (see
 * lib/redirect-corpus.ts, over a thousand) against every redirecting parameter of the edge, over
 * plain keep-alive HTTP; a sample through a full OIDC sign-in; the nastiest through Chromium. A
 * Location must resolve (WHATWG URL, against the request URL) to the edge or an exact known
 * socket origin, and edge pages must link nowhere else. Shorter hand-picked lists stay in
 * edge/test/redirects.test.ts and test/identity-attacks.test.ts.
 */
describe('open redirects: a generated corpus against every redirect parameter', () => {
  const tmp = makeTempDir('security-redirects');
  const http = new KeepAliveClient();
  let edge: EdgeProcess;
  let idp: TestIdp;
  let apps: IdentityApp[] = [];
  /** A: alice's sign-in socket; B: mallory's public socket; C: mallory's sign-in socket. */
  let socketA: ConnectorProcess;
  let socketB: ConnectorProcess;
  let socketC: ConnectorProcess;
  let own: OwnNames;
  let corpus: RedirectPayload[];
  let loginCookie: string;
  let sessionA: string;

  const originA = () => `http://${socketA.publicHost}`;

  before(async () => {
    const db = `${tmp.dir}/edge.db`;
    const alice = await createAccount(db, 'alice@example.com');
    const mallory = await createAccount(db, 'mallory@attacker.test');
    // The corpus hands one login to a socket a thousand times a minute: the hand-off limits are the rate-limit suites' to test.
    ({ edge, idp } = await startEdgeWithIdp({
      db,
      dir: tmp.dir,
      accounts: { bob: { sub: 'bob-sub', email: 'bob@example.com', email_verified: true, name: 'Bob' } },
      extraArgs: ['--rate-handoff-per-session', 'off', '--rate-handoff-per-address', 'off'],
    }));
    apps = await Promise.all(['A', 'B', 'C'].map((l) => IdentityApp.start(l)));
    [socketA, socketB, socketC] = await Promise.all([
      ConnectorProcess.start({ edge, token: alice, appPort: apps[0]!.port, label: 'connect:A', args: ['--name', 'alpha', '--cloudauth', '--allowed-email-domains', 'example.com'] }),
      ConnectorProcess.start({ edge, token: mallory, appPort: apps[1]!.port, label: 'connect:B', args: ['--name', 'bravo'] }),
      ConnectorProcess.start({ edge, token: mallory, appPort: apps[2]!.port, label: 'connect:C', args: ['--name', 'charlie', '--cloudauth', '--allowed-email-domains', 'example.com'] }),
    ]);
    const origins = [socketA, socketB, socketC].map((s) => `http://${s.publicHost}`);
    own = { edgeOrigin: edge.url, socketOrigins: new Set(origins) };
    corpus = redirectCorpus({ edgeHost: edge.domain, socketOrigins: origins, evil: EVIL });
    const client = new WebClient('bob');
    const nav = await client.navigate(`${originA()}/headers`, { login: 'bob' });
    assert.equal(nav.last.status, 200, 'bob signs in');
    loginCookie = `postern_login=${client.cookie(edge.url, 'postern_login')}`;
    sessionA = `postern_session=${client.cookie(originA(), 'postern_session')}`;
  });

  after(async () => {
    http.close();
    await killAll();
    await Promise.all([...apps.map((a) => a.close()), idp?.close()]);
    tmp.remove();
  });

  /** Edge endpoints that redirect again: the chain is followed through them. */
  const followable = (to: URL): boolean =>
    (to.origin === edge.url && ['/auth/login', '/device'].includes(to.pathname)) ||
    (to.origin === edge.url && to.pathname.startsWith('/auth/start/')) ||
    (own.socketOrigins.has(to.origin) && ['/.postern/signin', '/.postern/callback'].includes(to.pathname));

  /** Cookies a chain collects on socket hosts (the handoff nonce of `/.postern/signin`). */
  type Jar = Map<string, string>;

  /**
   * Follows a redirect chain through the edge's own redirecting endpoints (login cookie on the edge
   * host when `signedIn`), checking every Location and every edge page on the way. Returns the
   * problems and where the chain ended: a page, an app path on a socket, or the IdP.
   */
  async function follow(start: string, signedIn: boolean, rawPath?: string): Promise<{ problems: string[]; landed: string }> {
    const problems: string[] = [];
    let url = new URL(start);
    let path = rawPath;
    const jar: Jar = new Map();
    for (let hop = 0; hop < 10; hop++) {
      const cookie = signedIn && url.origin === edge.url ? loginCookie : jar.get(url.origin);
      const res = await http.request(url, { ...(path ? { path } : {}), headers: { accept: 'text/html', ...(cookie ? { cookie } : {}) } });
      path = undefined;
      const bind = [res.headers['set-cookie'] ?? []].flat().find((c) => c.startsWith('postern_bind='));
      if (bind) jar.set(url.origin, bind.slice(0, bind.indexOf(';')));
      const location = res.headers.location;
      if (res.status < 300 || res.status >= 400) {
        if (String(res.headers['content-type']).includes('text/html')) problems.push(...linkProblems(res.body, url.href, own));
        if (res.headers.refresh !== undefined) problems.push(`Refresh header: ${String(res.headers.refresh)}`);
        return { problems, landed: url.href };
      }
      if (location === undefined) return { problems: [...problems, `${res.status} without Location at ${url.href}`], landed: url.href };
      const problem = locationProblem(location, url.href, own);
      const to = URL.canParse(location, url.href) ? new URL(location, url) : undefined;
      if (to && url.pathname.startsWith('/auth/start/') && to.origin === idp.issuer) {
        // Off to the IdP with our own client and callback: the target travels in the transaction, server-side.
        if (to.searchParams.get('redirect_uri') !== `${edge.url}/auth/callback`) problems.push(`IdP redirect_uri ${to.searchParams.get('redirect_uri')}`);
        return { problems, landed: to.origin };
      }
      if (problem || !to) return { problems: [...problems, `${url.href} -> ${problem ?? location}`], landed: location };
      if (!followable(to)) return { problems, landed: to.href };
      url = to;
    }
    return { problems: [...problems, `more than 10 redirects from ${start}`], landed: url.href };
  }

  /** Every redirecting parameter of the edge, for one payload. */
  async function probe(payload: string): Promise<string[]> {
    const rd = encodeURIComponent(payload);
    const problems: string[] = [];
    const step = async (what: string, run: () => Promise<string[]>) => {
      try {
        for (const p of await run()) problems.push(`${what}: ${p}`);
      } catch (err) {
        problems.push(`${what}: ${(err as Error).message}`);
      }
    };
    const chain = (what: string, start: string, signedIn: boolean) => step(what, async () => (await follow(start, signedIn)).problems);
    // Post-login targets: signed in (the handoff answers at once), and anonymous (off to the IdP).
    await chain('rd, signed in', `${edge.url}/auth/login?rd=${rd}`, true);
    await chain('rd, anonymous', `${edge.url}/auth/login?rd=${rd}`, false);
    await chain('rd + switch', `${edge.url}/auth/login?switch=1&rd=${rd}`, true);
    await chain('start rd', `${edge.url}/auth/start/corp-sso?rd=${rd}`, false);
    // A socket host sends the browser on to the edge with the return path it was given.
    await chain('socket sign-in path', `${originA()}/.postern/signin?path=${rd}`, true);
    // The device page sends an anonymous visitor to sign in with its code in the return path.
    await chain('device code', `${edge.url}/device?code=${rd}`, false);
    await chain('device code, signed in', `${edge.url}/device?code=${rd}`, true);
    // A socket path without a session becomes the return target of the sign-in.
    if (/^\/[\x21-\x7e]*$/.test(payload)) {
      await step('socket path', async () => {
        const first = await follow(`${originA()}/`, false, payload);
        const then = first.landed.startsWith(`${edge.url}/auth/login?`) ? (await follow(first.landed, true)).problems : [];
        return [...first.problems, ...then];
      });
    }
    // Post-logout: no target parameter is honoured; the pages link only to our names.
    const query = TARGET_ALIASES.map((a) => `${a}=${rd}`).join('&');
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    const logout: [string, string, { method?: string; headers: Record<string, string>; body?: string }][] = [
      ['GET edge sign-out', `${edge.url}/auth/signout?${query}`, { headers: { cookie: loginCookie } }],
      ['POST edge sign-out', `${edge.url}/auth/signout?${query}`, { method: 'POST', headers: { origin: edge.url, ...form }, body: query }],
      ['GET socket sign-out', `${originA()}/.postern/signout?${query}`, { headers: { cookie: sessionA } }],
      ['POST socket sign-out', `${originA()}/.postern/signout?${query}`, { method: 'POST', headers: { origin: originA(), ...form }, body: query }],
    ];
    for (const [what, url, init] of logout) {
      await step(what, async () => {
        const res = await http.request(url, { ...init, headers: { accept: 'text/html', ...init.headers } });
        // A page, or a refusal of an oversized request (long payloads in nine parameters): never a redirect.
        return [
          ...([200, 400, 431].includes(res.status) ? [] : [`status ${res.status}`]),
          ...(res.headers.location === undefined ? [] : [`Location ${res.headers.location}`]),
          ...linkProblems(res.body, url, own),
        ];
      });
    }
    return problems;
  }

  it('generates at least 500 distinct payloads from every bypass family', () => {
    assert.ok(corpus.length >= 500, `${corpus.length} payloads`);
    const families = new Set(corpus.map((p) => p.family));
    for (const family of ['slashes-backslashes-dots-encodings', 'scheme', 'host-spelling', 'whitespace-control', 'userinfo', 'look-alike-host', 'socket-origin-tail', 'nested-redirect', 'fragment-query-path', 'script-scheme']) {
      assert.ok(families.has(family), `family ${family}`);
    }
    for (const needle of ['/\\evil.com', '\\\\evil.com', '//evil.com', '/%2f%2fevil.com', '/%5cevil.com', '/%252f%252fevil.com', 'JaVaScRiPt:alert(1)', 'http:evil.com', 'https:/evil.com', `//${edge.domain}%40evil.com`, `https://${edge.domain}@evil.com`, 'evil\u3002com']) {
      assert.ok(corpus.some((p) => p.value.includes(needle)), `the corpus has ${JSON.stringify(needle)}`);
    }
  });

  it('keeps every Location and edge page on our own names, for every payload and parameter', { timeout: 300_000 }, async () => {
    const problems: string[] = [];
    await inPool(corpus, 8, async (payload) => {
      for (const p of await probe(payload.value)) problems.push(`[${payload.family}] ${JSON.stringify(payload.value)} ${p}`);
    });
    assert.ok(edge.proc.running, 'the edge survived the corpus');
    assert.deepEqual(problems.slice(0, 25), [], `${problems.length} open-redirect findings over ${corpus.length} payloads`);
  });

  it('still honours legitimate targets exactly (the checks are not a blanket fallback)', async () => {
    const deep = await follow(`${edge.url}/auth/login?rd=${encodeURIComponent(`${originA()}/deep/path?x=1&y=2#frag`)}`, true);
    assert.deepEqual(deep.problems, []);
    assert.equal(deep.landed, `${originA()}/deep/path?x=1&y=2#frag`);
    const local = await follow(`${edge.url}/auth/login?rd=${encodeURIComponent('/device?code=ABCD-EFGH')}`, true);
    assert.deepEqual(local.problems, []);
    assert.equal(local.landed, `${edge.url}/device?code=ABCD-EFGH`);
    const fullwidthDot = await follow(`${edge.url}/auth/login?rd=${encodeURIComponent(`${originA().replace('.localhost', '\uff0elocalhost')}/x`)}`, true);
    assert.deepEqual(fullwidthDot.problems, []);
    assert.equal(fullwidthDot.landed, `${originA()}/x`, 'a fullwidth dot in our own socket name is that socket (IDNA), nothing else');
  });

  it('keeps a sample of the corpus on our names through a full OIDC sign-in', { timeout: 180_000 }, async () => {
    const families = new Map<string, RedirectPayload[]>();
    for (const p of corpus) families.set(p.family, [...(families.get(p.family) ?? []), p]);
    const sample = [...families.values()].flatMap((list) => [list[0]!, list[Math.floor(list.length / 2)]!, list[list.length - 1]!]);
    for (const payload of [...sample, ...NASTIEST(originA()).map((value) => ({ family: 'nastiest', value }))]) {
      const client = new WebClient('fresh');
      const ours = (u: URL) => isOwnOrigin(own, u.origin) || u.origin === idp.issuer;
      const nav = await client.navigate(`${edge.url}/auth/login?rd=${encodeURIComponent(payload.value)}`, { login: 'bob', maxHops: 20, stopAt: (u) => !ours(u) });
      assert.equal(nav.stoppedAt, undefined, `${JSON.stringify(payload.value)} sent the browser to ${nav.stoppedAt?.href}`);
      for (const hop of nav.hops) {
        const from = new URL(hop.url);
        if (!isOwnOrigin(own, from.origin) || hop.rawLocation === undefined) continue;
        const toIdp = from.pathname.startsWith('/auth/start/') && new URL(hop.rawLocation, from).origin === idp.issuer;
        if (!toIdp) assert.equal(locationProblem(hop.rawLocation, hop.url, own), null, `${JSON.stringify(payload.value)}: ${hop.url} -> ${hop.rawLocation}`);
      }
      assert.ok(isOwnOrigin(own, new URL(nav.last.url).origin), `${JSON.stringify(payload.value)} landed on ${nav.last.url}`);
    }
  });
});

/** Payloads whose danger is in how a browser, not a URL library, reads them. */
const NASTIEST = (socketOrigin: string): string[] => [
  '/\\evil.com', '/\t/evil.com', '/.//evil.com', '/%2e%2e//evil.com', '/a/..//evil.com', '\\\\evil.com', '/%5c%5cevil.com', '\0//evil.com',
  'http:evil.com', 'https:/\\evil.com', '//evil\u3002com', 'java\nscript:alert(1)', 'javascript:alert(1)', `${socketOrigin}/.//evil.com`,
  `${socketOrigin}\\@evil.com`, `${socketOrigin}@evil.com`, `${socketOrigin}#@evil.com`, '/auth/login?rd=/.//evil.com',
];

describe('open redirects in Chromium: the nastiest payloads, parsed by a browser', { skip: !chromiumAvailable() && 'no /usr/bin/chromium' }, () => {
  const tmp = makeTempDir('security-redirects-browser');
  let edge: EdgeProcess;
  let idp: TestIdp;
  let app: IdentityApp;
  let socket: ConnectorProcess;
  let browser: Browser;
  let context: BrowserContext;

  before(async () => {
    const db = `${tmp.dir}/edge.db`;
    const alice = await createAccount(db, 'alice@example.com');
    ({ edge, idp } = await startEdgeWithIdp({ db, dir: tmp.dir, accounts: { bob: { sub: 'bob-sub', email: 'bob@example.com', email_verified: true } } }));
    app = await IdentityApp.start('A');
    socket = await ConnectorProcess.start({ edge, token: alice, appPort: app.port, args: ['--name', 'alpha', '--cloudauth', '--allowed-email-domains', 'example.com'] });
    browser = await launchChromium();
    context = await browser.newContext();
    context.setDefaultTimeout(10_000);
    context.setDefaultNavigationTimeout(10_000);
  });

  after(async () => {
    await context?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await killAll();
    await Promise.all([app?.close(), idp?.close()]);
    tmp.remove();
  });

  it('never lets Chromium leave our names or run a script URL', { timeout: 120_000 }, async () => {
    const origin = `http://${socket.publicHost}`;
    const allowedHosts = new Set([edge.domain, socket.publicHost, new URL(idp.issuer).host]);
    const page = await context.newPage();
    // Every request Chromium makes, redirects included (launchChromium resolves loopback names only).
    const requested: string[] = [];
    page.on('request', (r) => requested.push(r.url()));
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await page.goto(`${origin}/headers`);
    await idpLogin(page, 'bob', idp.issuer);
    await continueIfAsked(page, origin);
    await page.waitForURL(`${origin}/headers`);

    for (const payload of NASTIEST(origin)) {
      const before = requested.length;
      await page.goto(`${edge.url}/auth/login?rd=${encodeURIComponent(payload)}`).catch(() => undefined);
      await page.waitForLoadState('load').catch(() => undefined);
      const elsewhere = requested.slice(before).filter((url) => !allowedHosts.has(new URL(url).host));
      assert.deepEqual(elsewhere, [], `${JSON.stringify(payload)}: Chromium requested another host`);
      const landed = new URL(page.url());
      assert.ok([`http://${edge.domain}`, origin].includes(landed.origin), `${JSON.stringify(payload)}: Chromium landed on ${page.url()}`);
    }
    assert.deepEqual(dialogs, [], 'no script URL ran');
  });
});
