import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { chromiumAvailable, continueIfAsked, idpLogin, launchChromium } from './lib/browser.js';
import { rawUpgrade, type UpgradeResult } from './lib/http.js';
import { IdentityApp } from './lib/identity-app.js';
import { makeTempDir } from './lib/postern.js';
import { SiblingSockets } from './lib/sibling-sockets.js';
import { WebClient } from './lib/web-client.js';

function statusOf(result: UpgradeResult): number {
  if ('socket' in result) result.socket.destroy();
  return result.status;
}

/**
 * Cross-site WebSocket hijacking and WebSockets without a session (SECURITY.md rule 1): sibling
 * sockets are same-site, so SameSite cookies ride along on their pages' WebSockets; the edge
 * accepts a cookie-authenticated upgrade only with the socket's own Origin. The first cases (a
 * sibling, `null`, no Origin) are in test/identity-attacks.test.ts; here every other spelling,
 * credentials of other hosts, tokens, public sockets, and the attack in Chromium.
 */
describe('WebSockets: cross-site hijacking and upgrades without a session', () => {
  const tmp = makeTempDir('security-websocket');
  /** A: alice's sign-in socket; C: mallory's sign-in socket; M: mallory's public socket. */
  let s: SiblingSockets;
  let bob: WebClient;
  let browser: Browser | undefined;

  const upgradesAt = (app: IdentityApp) => app.requests.filter((r) => r.upgrade).length;

  before(async () => {
    s = await SiblingSockets.start(tmp.dir, { bob: { sub: 'bob-sub', email: 'bob@example.com', email_verified: true } });
    bob = new WebClient('bob');
    assert.equal((await bob.navigate(`${s.originA}/headers`, { login: 'bob' })).last.status, 200);
    await bob.navigate(`${s.originC}/headers`);
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await s?.close();
    tmp.remove();
  });

  it("refuses a cookie-authenticated upgrade from any Origin but the socket's own (403)", async () => {
    const cookie = `postern_session=${bob.cookie(s.originA, 'postern_session')}`;
    const host = s.socketA.publicHost;
    const [name, port] = host.split(':') as [string, string];
    const before = upgradesAt(s.appA);
    for (const origin of [
      s.originM, s.originC, s.edge.url, 'null', `https://${host}`, `ws://${host}`, `http://${name}:${Number(port) + 1}`, `http://${name}`,
      `${s.originA}/`, `${s.originA}/ws`, `${s.originA}.evil.test`, `http://x${host}`, `http://user@${host}`, `http://${name}.:${port}`,
      `${s.originA}, ${s.originM}`, `${s.originM} ${s.originA}`, '', 'file://', `http://127.0.0.1:${port}`,
    ]) {
      assert.equal(statusOf(await rawUpgrade(s.edge.port, host, '/ws', { cookie, origin })), 403, `Origin ${JSON.stringify(origin)}`);
    }
    // The old Sec-WebSocket-Origin header instead of Origin, and two Origin headers.
    assert.equal(statusOf(await rawUpgrade(s.edge.port, host, '/ws', { cookie, 'sec-websocket-origin': s.originA })), 403, 'Sec-WebSocket-Origin only');
    assert.equal(statusOf(await rawUpgrade(s.edge.port, host, '/ws', { cookie, Origin: [s.originA, s.originM] })), 403, 'two Origin headers');
    assert.equal(upgradesAt(s.appA), before, 'no upgrade reached the app');
    assert.equal(statusOf(await rawUpgrade(s.edge.port, host, '/ws', { cookie, origin: s.originA })), 101, 'its own Origin opens');
  });

  it('refuses an upgrade carrying any credential but a session of this socket (401)', async () => {
    const values = [
      bob.cookie(s.originC, 'postern_session')!,
      bob.cookie(s.edge.url, 'postern_login')!,
      (await new WebClient('n').fetch(`${s.originA}/.postern/signin?path=/`)).setCookies[0]!.split(';')[0]!.split('=')[1]!,
      'x'.repeat(43),
    ];
    const before = upgradesAt(s.appA);
    for (const value of values) {
      for (const name of ['postern_session', 'postern_login', 'postern_bind']) {
        assert.equal(statusOf(await rawUpgrade(s.edge.port, s.socketA.publicHost, '/ws', { cookie: `${name}=${value}`, origin: s.originA })), 401, `${name}=${value.slice(0, 6)}…`);
      }
    }
    for (const authorization of ['Bearer pst_garbage', `Bearer ${bob.cookie(s.originA, 'postern_session')}`, 'Basic YWxpY2U6cHc=']) {
      assert.equal(statusOf(await rawUpgrade(s.edge.port, s.socketA.publicHost, '/ws', { authorization, origin: s.originA })), 401, authorization.slice(0, 12));
    }
    assert.equal(upgradesAt(s.appA), before, 'no upgrade reached the app');
  });

  it('takes a Postern token from any Origin (a token is not ambient: pages cannot attach it), and gives the app no credential', async () => {
    for (const origin of [s.originM, 'null', undefined]) {
      const before = s.appA.requests.length;
      const res = await rawUpgrade(s.edge.port, s.socketA.publicHost, '/ws', { authorization: `Bearer ${s.aliceToken}`, ...(origin ? { origin } : {}) });
      assert.equal(statusOf(res), 101, `Origin ${origin}`);
      const seen = s.appA.requests.slice(before)[0]!;
      assert.equal(seen.headers.authorization, undefined, 'the token is consumed');
      assert.equal(seen.headers['x-auth-email'], 'alice@example.com');
    }
  });

  it("opens a public socket's WebSocket from anywhere, without the edge's cookies", async () => {
    const before = s.sibling.requests.length;
    const cookie = `postern_session=${bob.cookie(s.originA, 'postern_session')}; postern_login=${bob.cookie(s.edge.url, 'postern_login')}; theirs=1`;
    assert.equal(statusOf(await rawUpgrade(s.edge.port, s.socketM.publicHost, '/ws', { cookie, origin: 'http://evil.test' })), 101);
    assert.equal(s.sibling.requests.slice(before)[0]!.headers.cookie, 'theirs=1');
  });

  it("in Chromium: a sibling's page cannot open the victim's WebSocket, the victim's own page can", { skip: !chromiumAvailable() && 'no /usr/bin/chromium', timeout: 60_000 }, async () => {
    browser = await launchChromium();
    const context = await browser.newContext();
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    await page.goto(`${s.originA}/`);
    await idpLogin(page, 'bob', s.idp.issuer);
    await continueIfAsked(page, s.originA);
    await page.waitForURL(`${s.originA}/`);
    const tryWebSocket = (from: Page, url: string) =>
      from.evaluate(
        (target) =>
          new Promise<string>((resolve) => {
            const ws = new WebSocket(target);
            ws.onopen = () => {
              ws.send('hello');
            };
            ws.onmessage = (e) => {
              resolve(`echo:${String(e.data)}`);
              ws.close();
            };
            ws.onerror = () => resolve('error');
            setTimeout(() => resolve('timeout'), 8_000);
          }),
        url,
      );
    const wsA = `ws://${s.socketA.publicHost}/ws`;
    assert.equal(await tryWebSocket(page, wsA), 'echo:hello', "the victim's own page opens it");
    s.sibling.script('/blank', { body: '<!doctype html><title>sibling</title>' });
    await page.goto(`${s.originM}/blank`);
    const before = upgradesAt(s.appA);
    assert.equal(await tryWebSocket(page, wsA), 'error', "a sibling's page cannot, though the browser sends the victim's cookie");
    assert.equal(upgradesAt(s.appA), before, 'no upgrade reached the app');
    await context.close();
  });
});
