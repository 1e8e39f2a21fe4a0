import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { chromiumAvailable, idpLogin, launchChromium } from './lib/browser.js';
import { rawUpgrade, type UpgradeResult } from './lib/http.js';
import { IdentityApp } from './lib/identity-app.js';
import { startEdgeWithIdp, type TestIdp } from './lib/idp.js';
import { ConnectorProcess, createAccount, makeTempDir, type EdgeProcess } from './lib/postern.js';
import { killAll } from './lib/process.js';
import { ScriptedApp } from './lib/scripted-app.js';
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
  let edge: EdgeProcess;
  let idp: TestIdp;
  /** A: alice's sign-in socket; C: mallory's sign-in socket; M: mallory's public socket. */
  let appA: IdentityApp;
  let appC: IdentityApp;
  let sibling: ScriptedApp;
  let socketA: ConnectorProcess;
  let socketC: ConnectorProcess;
  let socketM: ConnectorProcess;
  let aliceToken: string;
  let bob: WebClient;
  let browser: Browser | undefined;

  const originA = () => `http://${socketA.publicHost}`;
  const originC = () => `http://${socketC.publicHost}`;
  const originM = () => `http://${socketM.publicHost}`;
  const upgradesAt = (app: IdentityApp) => app.requests.filter((r) => r.upgrade).length;

  before(async () => {
    const db = `${tmp.dir}/edge.db`;
    aliceToken = await createAccount(db, 'alice@example.com');
    const mallory = await createAccount(db, 'mallory@attacker.test');
    ({ edge, idp } = await startEdgeWithIdp({ db, dir: tmp.dir, accounts: { bob: { sub: 'bob-sub', email: 'bob@example.com', email_verified: true } } }));
    [appA, appC, sibling] = await Promise.all([IdentityApp.start('A'), IdentityApp.start('C'), ScriptedApp.start()]);
    [socketA, socketC, socketM] = await Promise.all([
      ConnectorProcess.start({ edge, token: aliceToken, appPort: appA.port, label: 'connect:A', args: ['--name', 'alpha', '--cloudauth', '--allowed-email-domains', 'example.com'] }),
      ConnectorProcess.start({ edge, token: mallory, appPort: appC.port, label: 'connect:C', args: ['--name', 'charlie', '--cloudauth', '--allowed-email-domains', 'example.com'] }),
      ConnectorProcess.start({ edge, token: mallory, appPort: sibling.port, label: 'connect:M', args: ['--name', 'mallory'] }),
    ]);
    bob = new WebClient('bob');
    assert.equal((await bob.navigate(`${originA()}/headers`, { login: 'bob' })).last.status, 200);
    await bob.navigate(`${originC()}/headers`);
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await killAll();
    await Promise.all([appA?.close(), appC?.close(), sibling?.close(), idp?.close()]);
    tmp.remove();
  });

  it("refuses a cookie-authenticated upgrade from any Origin but the socket's own (403)", async () => {
    const cookie = `postern_session=${bob.cookie(originA(), 'postern_session')}`;
    const host = socketA.publicHost;
    const [name, port] = host.split(':') as [string, string];
    const before = upgradesAt(appA);
    for (const origin of [
      originM(), originC(), edge.url, 'null', `https://${host}`, `ws://${host}`, `http://${name}:${Number(port) + 1}`, `http://${name}`,
      `${originA()}/`, `${originA()}/ws`, `${originA()}.evil.test`, `http://x${host}`, `http://user@${host}`, `http://${name}.:${port}`,
      `${originA()}, ${originM()}`, `${originM()} ${originA()}`, '', 'file://', `http://127.0.0.1:${port}`,
    ]) {
      assert.equal(statusOf(await rawUpgrade(edge.port, host, '/ws', { cookie, origin })), 403, `Origin ${JSON.stringify(origin)}`);
    }
    // The old Sec-WebSocket-Origin header instead of Origin, and two Origin headers.
    assert.equal(statusOf(await rawUpgrade(edge.port, host, '/ws', { cookie, 'sec-websocket-origin': originA() })), 403, 'Sec-WebSocket-Origin only');
    assert.equal(statusOf(await rawUpgrade(edge.port, host, '/ws', { cookie, Origin: [originA(), originM()] })), 403, 'two Origin headers');
    assert.equal(upgradesAt(appA), before, 'no upgrade reached the app');
    assert.equal(statusOf(await rawUpgrade(edge.port, host, '/ws', { cookie, origin: originA() })), 101, 'its own Origin opens');
  });

  it('refuses an upgrade carrying any credential but a session of this socket (401)', async () => {
    const values = [
      bob.cookie(originC(), 'postern_session')!,
      bob.cookie(edge.url, 'postern_login')!,
      (await new WebClient('n').fetch(`${originA()}/.postern/signin?path=/`)).setCookies[0]!.split(';')[0]!.split('=')[1]!,
      'x'.repeat(43),
    ];
    const before = upgradesAt(appA);
    for (const value of values) {
      for (const name of ['postern_session', 'postern_login', 'postern_bind']) {
        assert.equal(statusOf(await rawUpgrade(edge.port, socketA.publicHost, '/ws', { cookie: `${name}=${value}`, origin: originA() })), 401, `${name}=${value.slice(0, 6)}…`);
      }
    }
    for (const authorization of ['Bearer pst_garbage', `Bearer ${bob.cookie(originA(), 'postern_session')}`, 'Basic YWxpY2U6cHc=']) {
      assert.equal(statusOf(await rawUpgrade(edge.port, socketA.publicHost, '/ws', { authorization, origin: originA() })), 401, authorization.slice(0, 12));
    }
    assert.equal(upgradesAt(appA), before, 'no upgrade reached the app');
  });

  it('takes a Postern token from any Origin (a token is not ambient: pages cannot attach it), and gives the app no credential', async () => {
    for (const origin of [originM(), 'null', undefined]) {
      const before = appA.requests.length;
      const res = await rawUpgrade(edge.port, socketA.publicHost, '/ws', { authorization: `Bearer ${aliceToken}`, ...(origin ? { origin } : {}) });
      assert.equal(statusOf(res), 101, `Origin ${origin}`);
      const seen = appA.requests.slice(before)[0]!;
      assert.equal(seen.headers.authorization, undefined, 'the token is consumed');
      assert.equal(seen.headers['x-auth-email'], 'alice@example.com');
    }
  });

  it("opens a public socket's WebSocket from anywhere, without the edge's cookies", async () => {
    const before = sibling.requests.length;
    const cookie = `postern_session=${bob.cookie(originA(), 'postern_session')}; postern_login=${bob.cookie(edge.url, 'postern_login')}; theirs=1`;
    assert.equal(statusOf(await rawUpgrade(edge.port, socketM.publicHost, '/ws', { cookie, origin: 'http://evil.test' })), 101);
    assert.equal(sibling.requests.slice(before)[0]!.headers.cookie, 'theirs=1');
  });

  it("in Chromium: a sibling's page cannot open the victim's WebSocket, the victim's own page can", { skip: !chromiumAvailable() && 'no /usr/bin/chromium', timeout: 60_000 }, async () => {
    browser = await launchChromium();
    const context = await browser.newContext();
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    await page.goto(`${originA()}/`);
    await idpLogin(page, 'bob', idp.issuer);
    await page.waitForURL(`${originA()}/`);
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
    const wsA = `ws://${socketA.publicHost}/ws`;
    assert.equal(await tryWebSocket(page, wsA), 'echo:hello', "the victim's own page opens it");
    sibling.script('/blank', { body: '<!doctype html><title>sibling</title>' });
    await page.goto(`${originM()}/blank`);
    const before = upgradesAt(appA);
    assert.equal(await tryWebSocket(page, wsA), 'error', "a sibling's page cannot, though the browser sends the victim's cookie");
    assert.equal(upgradesAt(appA), before, 'no upgrade reached the app');
    await context.close();
  });
});
