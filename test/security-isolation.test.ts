import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { HandshakeHeader, PROTOCOL_VERSION, TCP_PATH, TUNNEL_PATH } from '@postern/shared';
import Database from 'better-sqlite3';
import type { BrowserContext, Page } from 'playwright-core';
import { chromiumAvailable } from './lib/browser.js';
import { expireToken } from './lib/edge-db.js';
import { closeOf, openWebSocket } from './lib/http.js';
import { api, ConnectorProcess, makeTempDir } from './lib/postern.js';
import { BOB, EDGE_HOST, MALLORY, RealDomainRig } from './lib/real-domain.js';
import { pollUntil } from './lib/wait.js';

const errorCode = (body: Buffer): string | undefined => (JSON.parse(body.toString('utf8')) as { error?: { code?: string } }).error?.code;

/**
 * Isolation on a real-looking parent domain (SECURITY.md, "a hostile sibling on a real parent
 * domain", issue 10): over https at edge.postern.test, where every socket and the edge are
 * same-site, in Chromium, each attack written from the side of mallory, whose apps run behind her
 * own sockets (M, public; C, a sign-in socket also named "alpha"), against bob, a @corp.test user
 * of alice's socket A. Every case passes because the attack fails.
 */
describe('isolation: a hostile sibling socket on a real https parent domain', { skip: !chromiumAvailable() && 'no /usr/bin/chromium' }, () => {
  const tmp = makeTempDir('security-isolation');
  let rig: RealDomainRig;
  let bob: BrowserContext;
  let page: Page;
  const hostOf = (origin: string) => new URL(origin).hostname;
  const cookieOf = async (name: string, origin: string) => (await bob.cookies(origin)).find((c) => c.name === name)?.value;
  /** Bob is still bob at A: his session there works and names him. */
  const stillSignedInAtA = async (): Promise<void> => {
    const res = await page.goto(`${rig.originA}/`);
    assert.equal(res?.status(), 200);
    assert.match((await page.textContent('#who')) ?? '', /bob@corp\.test/);
  };
  const auditOfA = async () => {
    const res = await api(rig.edge, rig.tokens.alice, 'GET', `/audit?socket=${rig.socketA.socketId}`);
    return res.json as Array<{ type: string; actor: string; detail: Record<string, unknown> }>;
  };

  before(async () => {
    rig = await RealDomainRig.start(tmp.dir, ['--first-byte-timeout', '3s']);
    bob = await rig.newContext();
    page = await bob.newPage();
    await rig.signIn(page, `${rig.originA}/`, BOB);
  });

  after(async () => {
    await rig?.close();
    tmp.remove();
  });

  it('the rig: bob is signed in at alpha over https with __Host- cookies; Chromium sends Sec-Fetch-*', async () => {
    assert.match((await page.textContent('#who')) ?? '', /bob@corp\.test/);
    assert.ok(await cookieOf('__Host-postern_session', rig.originA), 'a __Host- session on A');
    assert.ok(await cookieOf('__Host-postern_login', rig.edgeOrigin), 'a __Host- login on the edge');
    assert.ok(rig.appA.last('/').headers['sec-fetch-site'], 'Chromium sends Sec-Fetch-Site over https');
  });

  it("cross-socket request forgery: a sibling's auto-posted form and no-cors fetch carry bob's cookie to A and are refused (403, audited)", async () => {
    rig.appM.script('/csrf', {
      body: `<!doctype html><form id="f" method="post" action="${rig.originA}/transfer"><input name="to" value="mallory"></form>
<script>fetch(${JSON.stringify(`${rig.originA}/transfer-fetch`)}, { method: 'POST', mode: 'no-cors', credentials: 'include', body: 'to=mallory' })
  .finally(() => document.getElementById('f').submit());</script>`,
    });
    const before = rig.appA.requestsTo('/transfer').length;
    await page.goto(`${rig.originM}/csrf`);
    await page.waitForURL(`${rig.originA}/transfer`);
    assert.match((await page.textContent('body')) ?? '', /Cross-site request refused/, "the edge's page");
    assert.equal(rig.appA.requestsTo('/transfer').length, before, 'neither POST reached the app');
    const refused = (await auditOfA()).filter((e) => e.type === 'access.denied' && e.actor === BOB.email && String(e.detail.reason).includes('cross-origin POST'));
    assert.ok(refused.length >= 1, 'audited under bob: the browser did send his cookie');
    // The app's own pages still post, with bob's identity.
    await page.goto(`${rig.originA}/`);
    assert.equal(await page.evaluate(() => fetch('/transfer-own', { method: 'POST', body: 'to=alice' }).then((r) => r.status)), 200);
    assert.equal(rig.appA.last('/transfer-own').headers['x-auth-email'], BOB.email);
  });

  it('the per-socket opt-out lets cross-origin POSTs through, and only when its owner turns it on', async () => {
    rig.appM.script('/csrf-fetch', { body: `<script>fetch(${JSON.stringify(`${rig.originA}/webhook`)}, { method: 'POST', mode: 'no-cors', credentials: 'include', body: 'x' })</script>` });
    assert.equal((await api(rig.edge, rig.tokens.alice, 'PATCH', `/sockets/${rig.socketA.socketId}`, { allow_cross_origin_requests: true })).status, 200);
    try {
      await page.goto(`${rig.originM}/csrf-fetch`);
      await pollUntil(async () => rig.appA.requestsTo('/webhook').length > 0 || undefined, { timeoutMs: 10_000, intervalMs: 100, what: 'the opted-in POST' });
      assert.equal(rig.appA.last('/webhook').headers['sec-fetch-site'], 'same-site');
    } finally {
      assert.equal((await api(rig.edge, rig.tokens.alice, 'PATCH', `/sockets/${rig.socketA.socketId}`, { allow_cross_origin_requests: false })).status, 200);
    }
  });

  it("a sibling app's Set-Cookie for the parent domain (a 4 KB cookie bomb) stays on its own host: the edge and A still answer", async () => {
    const big = 'x'.repeat(4000);
    const bomb = (from: number) => [from, from + 1, from + 2].map((i) => `bomb${i}=${big}; Domain=${EDGE_HOST}; Path=/; Max-Age=31536000; Secure`);
    // Two answers of three: an answer's headers must fit the edge's 16 KiB limit on what it reads from an app.
    rig.appM.script('/bomb', { headers: { 'set-cookie': bomb(1) }, body: 'ok' });
    rig.appM.script('/bomb2', { headers: { 'set-cookie': bomb(4).slice(0, 2) }, body: 'ok' });
    assert.equal((await page.goto(`${rig.originM}/bomb`))?.status(), 200);
    assert.equal((await page.goto(`${rig.originM}/bomb2`))?.status(), 200);
    const bombs = (await bob.cookies()).filter((c) => c.name.startsWith('bomb'));
    assert.equal(bombs.length, 5);
    assert.ok(bombs.every((c) => c.domain === hostOf(rig.originM)), `host-only on M: ${bombs.map((c) => c.domain).join(' ')}`);
    assert.equal((await page.goto(`${rig.edgeOrigin}/`))?.status(), 200);
    await stillSignedInAtA();
    await bob.clearCookies({ name: /^bomb/ });
  });

  it("a cookie bomb a sibling's script sets for the parent domain gets the 431 page, which deletes it: the next request works", async () => {
    rig.appM.script('/js-bomb', {
      body: `<script>for (let i = 0; i < 5; i++) document.cookie = 'jsbomb' + i + '=' + 'y'.repeat(4000) + '; domain=${EDGE_HOST}; path=/; max-age=31536000; secure';</script>`,
    });
    await page.goto(`${rig.originM}/js-bomb`);
    assert.equal((await bob.cookies()).filter((c) => c.name.startsWith('jsbomb')).length, 5, 'the browser took them');
    const bombed = await page.goto(`${rig.originA}/`);
    assert.equal(bombed?.status(), 431);
    await page.waitForFunction(`(document.getElementById('cleanup')?.textContent ?? '').includes('deleted')`);
    assert.match((await page.textContent('#cleanup')) ?? '', /deleted 5 cookies/);
    assert.equal((await bob.cookies()).filter((c) => c.name.startsWith('jsbomb')).length, 0);
    await stillSignedInAtA();
  });

  it('forced sign-out fails: a sibling posting sign-out forms (edge, A) and relaying Clear-Site-Data leaves bob signed in', async () => {
    const before = (await bob.cookies()).filter((c) => c.name.startsWith('__Host-postern')).length;
    rig.appM.script('/signout-edge', { body: `<form id="f" method="post" action="${rig.edgeOrigin}/auth/signout"><input name="scope" value="everywhere"></form><script>document.getElementById('f').submit()</script>` });
    await page.goto(`${rig.originM}/signout-edge`);
    await page.waitForURL(`${rig.edgeOrigin}/auth/signout`);
    assert.match((await page.textContent('body')) ?? '', /must be confirmed from this edge/);
    rig.appM.script('/signout-a', { body: `<form id="f" method="post" action="${rig.originA}/.postern/signout"><input name="scope" value="everywhere"></form><script>document.getElementById('f').submit()</script>` });
    await page.goto(`${rig.originM}/signout-a`);
    await page.waitForURL(`${rig.originA}/.postern/signout`);
    assert.match((await page.textContent('body')) ?? '', /must come from this app/);
    rig.appM.script('/clear', { headers: { 'clear-site-data': '"cookies", "storage"' }, body: 'cleared?' });
    const cleared = await page.goto(`${rig.originM}/clear`);
    assert.equal(cleared?.headers()['clear-site-data'], undefined, 'not relayed');
    assert.equal((await bob.cookies()).filter((c) => c.name.startsWith('__Host-postern')).length, before, "bob's cookies are all there");
    await stillSignedInAtA();
  });

  it("login CSRF fails: a tossed transaction cookie and an auto-posted local-login form do not sign bob in as mallory", async () => {
    // Mallory starts a sign-in of her own and keeps its transaction.
    const start = await rig.fetch(`${rig.edgeOrigin}/auth/start/local`);
    const tx = /name="tx" value="([^"]+)"/.exec(start.body.toString('utf8'))?.[1];
    assert.ok(tx, 'a transaction');
    const form = `tx=${tx}&email=${encodeURIComponent(MALLORY.email)}&password=${MALLORY.password}`;
    rig.appM.script('/login-csrf', {
      body: `<script>
for (const name of ['postern_tx', '__Host-postern_tx', '__host-postern_tx']) document.cookie = name + '=${tx}; domain=${EDGE_HOST}; path=/auth; secure';
document.cookie = '=__Host-postern_tx=${tx}; domain=${EDGE_HOST}; path=/auth; secure';
</script><form id="f" method="post" action="${rig.edgeOrigin}/auth/local"><input name="tx" value="${tx}"><input name="email" value="${MALLORY.email}"><input name="password" value="${MALLORY.password}"></form>
<script>document.getElementById('f').submit()</script>`,
    });
    await page.goto(`${rig.originM}/login-csrf`);
    await page.waitForURL(`${rig.edgeOrigin}/auth/local`);
    assert.match((await page.textContent('body')) ?? '', /must be sent from this edge/);
    await page.goto(`${rig.edgeOrigin}/`);
    assert.equal(await page.textContent('#who'), BOB.email, 'the edge still knows bob, not mallory');
    // Even with the binding right (a toss that worked), the edge refuses the sibling's Origin...
    const headers = { cookie: `__Host-postern_tx=${tx}`, 'sec-fetch-site': 'same-site' };
    const forged = await rig.fetch(`${rig.edgeOrigin}/auth/local`, { method: 'POST', body: form, headers: { ...headers, origin: rig.originM } });
    assert.equal(forged.status, 403);
    assert.equal(forged.headers['set-cookie']?.some((c) => c.startsWith('__Host-postern_login=')) ?? false, false);
    // ...which is all that stopped it: from the edge's own page the same form signs in.
    const own = await rig.fetch(`${rig.edgeOrigin}/auth/local`, { method: 'POST', body: form, headers: { ...headers, origin: rig.edgeOrigin, 'sec-fetch-site': 'same-origin' } });
    assert.equal(own.status, 302);
    assert.ok(own.headers['set-cookie']?.some((c) => c.startsWith('__Host-postern_login=')));
  });

  it("identity harvest fails: mallory's socket widened to @corp.test gets nothing from a hidden iframe or a link until bob says yes", async () => {
    const bobAtC = () => rig.appC.requests.filter((r) => r.headers['x-auth-email'] === BOB.email).length;
    rig.appM.script('/harvest', { body: `<iframe src="${rig.originC}/" style="display:none"></iframe><a id="cats" href="${rig.originC}/">cute cats</a>` });
    const asked = page.waitForResponse((r) => r.url().startsWith(`${rig.edgeOrigin}/auth/login?`) && r.url().includes('bind=') && r.status() === 200);
    await page.goto(`${rig.originM}/harvest`);
    const answer = await asked;
    assert.equal(answer.headers()['x-frame-options'], 'DENY', 'the question cannot be shown (or clicked) in a frame');
    assert.equal(bobAtC(), 0, 'the hidden iframe learned nothing');
    await Promise.all([page.waitForURL((u) => u.host === rig.edge.domain), page.click('#cats')]);
    assert.equal(await page.textContent('#consent-host'), rig.socketC.publicHost);
    assert.equal(await page.textContent('#consent-owner'), MALLORY.email);
    assert.equal(await page.textContent('#consent-who'), BOB.email);
    assert.equal(bobAtC(), 0, 'nothing before the answer');
    // Bob says yes: now, and only now, C learns who he is.
    await Promise.all([page.waitForURL(`${rig.originC}/`), page.click('form[data-postern="handoff-consent"] button[type="submit"]')]);
    assert.ok(bobAtC() >= 1);
    assert.match((await page.textContent('#who')) ?? '', /bob@corp\.test/);
  });

  it("a socket's own-origin 'everywhere' sign-out form ends only that socket's session", async () => {
    await page.goto(`${rig.originC}/`);
    const status = await page.evaluate(() => fetch('/.postern/signout', { method: 'POST', body: new URLSearchParams({ scope: 'everywhere' }) }).then((r) => r.status));
    assert.equal(status, 200);
    await stillSignedInAtA();
    await page.goto(`${rig.edgeOrigin}/`);
    assert.equal(await page.textContent('#who'), BOB.email, 'the login session lives on');
  });

  it("look-alike names: bob's portal shows both \"alpha\" apps with their owners and full host names; his yes to C is listed and revocable", async () => {
    await page.goto(`${rig.edgeOrigin}/`);
    const tiles = await page.$$eval('li.app', (items) => items.map((li) => ({ host: li.getAttribute('data-host'), text: li.textContent ?? '' })));
    const alphas = tiles.filter((t) => t.text.includes('alpha'));
    assert.equal(alphas.length, 2, JSON.stringify(tiles));
    const ofA = alphas.find((t) => t.host === hostOf(rig.originA))!;
    const ofC = alphas.find((t) => t.host === hostOf(rig.originC))!;
    assert.match(ofA.text, /Published by alice@corp\.test/);
    assert.match(ofC.text, /Published by mallory@attacker\.test/);
    assert.ok(ofC.text.includes(rig.socketC.publicHost) && ofA.text.includes(rig.socketA.publicHost), 'full host names, not cut');
    assert.ok(await page.isVisible(`#consents li[data-host="${hostOf(rig.originC)}"]`), 'the yes to C is listed');
    await Promise.all([page.waitForURL(`${rig.edgeOrigin}/`), page.click(`#consents li[data-host="${hostOf(rig.originC)}"] button`)]);
    assert.equal(await page.$(`#consents li[data-host="${hostOf(rig.originC)}"]`), null, 'withdrawn');
    const asked = page.waitForResponse((r) => r.url().startsWith(`${rig.edgeOrigin}/auth/login?`) && r.url().includes('bind=') && r.status() === 200);
    await page.goto(`${rig.originC}/`);
    await asked;
    assert.ok(await page.isVisible('form[data-postern="handoff-consent"]'), 'C must ask again');
  });

  it('hand-off flood: one session from one address gets 429 after its limit, and the code table stays bounded', async () => {
    const login = await cookieOf('__Host-postern_login', rig.edgeOrigin);
    const signin = await rig.fetch(`${rig.originA}/.postern/signin?path=/`);
    const bind = /__Host-postern_bind=([^;]+)/.exec(String(signin.headers['set-cookie']))?.[1];
    assert.ok(login && bind);
    const db = new Database(`${tmp.dir}/edge.db`, { readonly: true });
    const codes = () => (db.prepare('SELECT COUNT(*) AS n FROM handoff_codes').get() as { n: number }).n;
    try {
      const before = codes();
      const statuses: number[] = [];
      for (let i = 0; i < 100; i++) {
        const res = await rig.fetch(`${rig.edgeOrigin}/auth/login?rd=${encodeURIComponent(`${rig.originA}/`)}&bind=${bind}`, { headers: { cookie: `__Host-postern_login=${login}` } });
        statuses.push(res.status);
        if (res.status === 429) {
          assert.ok(Number(res.headers['retry-after']) >= 1);
          break;
        }
      }
      assert.equal(statuses.at(-1), 429, `refused within 100 (${statuses.filter((s) => s === 302).length} issued)`);
      // 60 a minute, refilled evenly: a few more trickle in while the loop runs.
      const issued = statuses.filter((s) => s === 302).length;
      assert.ok(issued <= 65, `${issued} issued`);
      assert.ok(codes() - before <= 65, `at most the limit in rows (${codes() - before})`);
    } finally {
      db.close();
    }
  });

  it('a Postern token in any Authorization spelling never reaches an app; Bearer in any case or spacing works', async () => {
    const token = rig.tokens.alice;
    const before = rig.appM.requests.length;
    for (const authorization of [`bearer ${token}`, `BEARER ${token}`, `Bearer  ${token}`, `Token ${token}`, token, ['Basic YWxpY2U6cHc=', `Bearer ${token}`]]) {
      await rig.fetch(`${rig.originM}/echo`, { headers: { authorization } });
    }
    const seen = rig.appM.requests.slice(before).map((r) => String(r.headers.authorization ?? ''));
    assert.equal(seen.length, 6);
    assert.ok(seen.every((a) => !a.includes('pst_')), JSON.stringify(seen));
    for (const authorization of [`bearer ${token}`, `BEARER ${token}`, `Bearer  ${token}`]) {
      const res = await rig.fetch(`${rig.originA}/headers`, { headers: { authorization, accept: 'application/json' } });
      assert.equal(res.status, 200, authorization.slice(0, 8));
      assert.equal(rig.appA.last('/headers').headers.authorization, undefined);
    }
  });

  it("other proxies' identity headers (Remote-User, X-WEBAUTH-USER, X-Auth-Request-Email, Cf-Access-…, Pomerium's) never reach the app", async () => {
    const session = await cookieOf('__Host-postern_session', rig.originA);
    const forged = {
      'Remote-User': 'admin', 'X-WEBAUTH-USER': 'admin', 'X-Auth-Request-Email': 'admin@corp.test', 'Cf-Access-Authenticated-User-Email': 'admin@corp.test',
      'X-Pomerium-Claim-Email': 'admin@corp.test', 'X-Pomerium-Jwt-Assertion': 'forged', 'Remote_User': 'admin',
    };
    const res = await rig.fetch(`${rig.originA}/headers`, { headers: { cookie: `__Host-postern_session=${session}`, ...forged } });
    assert.equal(res.status, 200);
    const got = rig.appA.last('/headers').headers;
    for (const name of Object.keys(forged)) assert.equal(got[name.toLowerCase().replace(/_/g, '-')], undefined, name);
    assert.equal(got['x-auth-email'], BOB.email);
  });

  it("an app's own Postern-Error never reaches the client; edge pages refuse to be framed", async () => {
    rig.appM.script('/fake-error', { status: 403, headers: { 'postern-error': 'POLICY_DENIED' }, body: 'looks like the edge' });
    const fake = await rig.fetch(`${rig.originM}/fake-error`);
    assert.equal(fake.status, 403);
    assert.equal(fake.headers['postern-error'], undefined);
    for (const url of [`${rig.edgeOrigin}/`, `${rig.edgeOrigin}/auth/signout`, `${rig.edgeOrigin}/auth/start/local`, `${rig.originA}/.postern/signout`, `${rig.originA}/.postern/nothing`]) {
      const res = await rig.fetch(url, { headers: { accept: 'text/html' } });
      assert.equal(res.headers['x-frame-options'], 'DENY', url);
      assert.equal(res.headers['content-security-policy'], "frame-ancestors 'none'", url);
    }
    // A reason phrase Node would refuse to write (UTF-8, DEL): the answer still arrives, with a standard phrase.
    for (const [path, reason] of [['/odd-reason', 'Tr\u00e8s \u2713 bien'], ['/del-reason', 'OK\u007f']] as const) {
      rig.appM.script(path, { raw: Buffer.concat([Buffer.from('HTTP/1.1 200 '), Buffer.from(reason, 'utf8'), Buffer.from('\r\ncontent-length: 2\r\nconnection: close\r\npostern-error: FAKE\r\n\r\nok')]) });
      const odd = await rig.fetch(`${rig.originM}${path}`);
      assert.equal(odd.status, 200, `${path}: ${odd.body.toString().slice(0, 120)}`);
      assert.equal(odd.body.toString(), 'ok');
      assert.equal(odd.headers['postern-error'], undefined);
    }
    rig.appM.script('/frame', { body: `<iframe id="f" src="${rig.edgeOrigin}/auth/signout"></iframe>` });
    const framed = page.waitForResponse((r) => r.url() === `${rig.edgeOrigin}/auth/signout`);
    await page.goto(`${rig.originM}/frame`);
    await framed;
    const child = page.frames().find((f) => f !== page.mainFrame());
    const text = String(await child?.evaluate(`document.body?.innerText ?? ''`).catch(() => ''));
    assert.doesNotMatch(text, /Sign out\?/, 'the sign-out page did not render in the frame');
  });

  it('bad-token guessing is rate limited per address on socket hosts and on the tunnel and TCP endpoints', async () => {
    const guesser = '127.0.0.3';
    const guess = () => `pst_${randomBytes(32).toString('base64url')}`;
    let status = 0;
    for (let i = 0; i < 80 && status !== 429; i++) {
      status = (await rig.fetch(`${rig.originA}/headers`, { headers: { authorization: `Bearer ${guess()}`, accept: 'application/json' }, localAddress: guesser })).status;
    }
    assert.equal(status, 429, 'socket host');
    const upgrade = { connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': randomBytes(16).toString('base64'), accept: 'application/json' };
    const tunnel = await rig.fetch(`${rig.edgeOrigin}${TUNNEL_PATH}`, {
      headers: { ...upgrade, authorization: `Bearer ${guess()}`, [HandshakeHeader.PROTOCOL]: String(PROTOCOL_VERSION), [HandshakeHeader.SOCKET]: rig.socketA.socketId },
      localAddress: guesser,
    });
    assert.equal(tunnel.status, 429, 'tunnel endpoint');
    const tcp = await rig.fetch(`${rig.edgeOrigin}${TCP_PATH}`, { headers: { authorization: `Bearer ${guess()}`, accept: 'application/json', [HandshakeHeader.SOCKET]: 'x' }, localAddress: guesser });
    assert.equal(tcp.status, 429, 'TCP endpoint');
    const elsewhere = await rig.fetch(`${rig.originA}/headers`, { headers: { authorization: `Bearer ${guess()}`, accept: 'application/json' } });
    assert.equal(elsewhere.status, 401, 'another address is not affected');
  });

  it("the tunnel handshake answers another account's socket id exactly like an unknown one", async () => {
    const handshake = (socketId: string) =>
      rig.fetch(`${rig.edgeOrigin}${TUNNEL_PATH}`, {
        headers: {
          connection: 'Upgrade', upgrade: 'websocket', 'sec-websocket-version': '13', 'sec-websocket-key': randomBytes(16).toString('base64'),
          authorization: `Bearer ${rig.tokens.mallory}`, [HandshakeHeader.PROTOCOL]: String(PROTOCOL_VERSION), [HandshakeHeader.SOCKET]: socketId,
        },
      });
    const [alices, unknown] = await Promise.all([handshake(rig.socketA.socketId), handshake('sck_000000000000')]);
    assert.equal(alices.status, unknown.status);
    assert.equal(errorCode(alices.body), errorCode(unknown.body));
    assert.equal(alices.body.toString().replace(rig.socketA.socketId, 'ID'), unknown.body.toString().replace('sck_000000000000', 'ID'));
  });

  it('an expired token: its live tunnel and WebSocket close within 15 s, and postern connect says why', { timeout: 40_000 }, async () => {
    const created = await api(rig.edge, rig.tokens.alice, 'POST', '/tokens', { name: 'short-lived', expires_in_seconds: 3600 });
    const { token, id } = created.json as { token: string; id: string };
    const connector = await ConnectorProcess.startServing({ edge: rig.edge, token, appPort: rig.appA.port, label: 'connect:expiring', socket: { id: rig.socketA.socketId, name: 'alpha', hostname: '', url: rig.originA } });
    const ws = await openWebSocket(rig.edge.port, rig.socketA.publicHost, '/ws', { authorization: `Bearer ${token}` }, 10_000, rig.ca.caPem);
    const closed = closeOf(ws, 20_000);
    const expiredAt = Date.now();
    expireToken(`${tmp.dir}/edge.db`, id);
    await closed;
    assert.ok(Date.now() - expiredAt <= 15_000, `WebSocket closed after ${Date.now() - expiredAt} ms`);
    const exit = await connector.proc.waitExit(15_000);
    assert.ok(Date.now() - expiredAt <= 15_000, `tunnel closed after ${Date.now() - expiredAt} ms`);
    assert.notEqual(exit.code, 0);
    assert.match(connector.proc.output(), /token expired on \S+/, 'the reason, in words');
  });

  it('2,000 idle connections from one address: at most 256 are held, each closed after the first-byte timeout, and the edge keeps answering', { timeout: 40_000 }, async () => {
    const sockets: Socket[] = [];
    const closed = new Set<Socket>();
    // In batches of 100, each connected before the next (the listen backlog would otherwise hold them in the kernel).
    for (let batch = 0; batch < 20; batch++) {
      await Promise.all(
        Array.from({ length: 100 }, () => {
          const socket = connect({ host: '127.0.0.1', port: rig.edge.port, localAddress: '127.0.0.4' });
          sockets.push(socket);
          socket.on('error', () => undefined);
          socket.on('close', () => closed.add(socket));
          return new Promise((resolve) => {
            socket.once('connect', resolve);
            socket.once('close', resolve);
          });
        }),
      );
    }
    try {
      await pollUntil(async () => sockets.length - closed.size <= 256 || undefined, { timeoutMs: 5_000, intervalMs: 50, what: () => `${sockets.length - closed.size} still open` });
      const health = await rig.fetch(`${rig.edgeOrigin}/healthz`);
      assert.equal(health.status, 200, 'the edge answers others meanwhile');
      await pollUntil(async () => closed.size === 2_000 || undefined, { timeoutMs: 10_000, intervalMs: 100, what: () => `${closed.size} of 2000 closed` });
      const logged = () => new Set(rig.edge.logs().map((l) => l.limit));
      await pollUntil(async () => (logged().has('connections_per_address') && logged().has('first_byte_timeout')) || undefined, { timeoutMs: 5_000, intervalMs: 100, what: 'both limits logged' });
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });
});
