import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { chromiumAvailable, continueIfAsked, idpLogin, launchChromium } from './lib/browser.js';
import { rawUpgrade, request } from './lib/http.js';
import { IdentityApp } from './lib/identity-app.js';
import { ConnectorProcess, createAccount, EdgeProcess, makeTempDir, runCli } from './lib/postern.js';
import { killAll } from './lib/process.js';
import { SiblingSockets } from './lib/sibling-sockets.js';
import { WebClient } from './lib/web-client.js';

const RESERVED = ['postern_session', 'postern_login', 'postern_tx', 'postern_bind'];

/**
 * The name under which a browser (RFC 6265bis) sends a Set-Cookie line back: a nameless pair is
 * sent as its value alone. Written here independently of the edge's own check, as the oracle.
 */
function nameSentBack(line: string): string {
  const pair = line.split(';')[0]!;
  const eq = pair.indexOf('=');
  const name = eq === -1 ? '' : pair.slice(0, eq).trim();
  const value = eq === -1 ? pair.trim() : pair.slice(eq + 1).trim();
  return (name !== '' ? name : value.split('=')[0]!.trim()).toLowerCase();
}

/** Set-Cookie lines a hostile sibling app tries, for every reserved name in every spelling and placement. */
function plantingLines(value: string): string[] {
  const attributes = ['', '; Path=/', '; Domain=localhost; Path=/', '; Domain=.localhost', '; Path=/headers; HttpOnly', '; Secure; SameSite=None; Path=/'];
  const lines: string[] = [];
  let i = 0;
  for (const name of RESERVED) {
    for (const prefixed of [name, `__Host-${name}`, `__HOST-${name.toUpperCase()}`, `__host-${name}`]) {
      for (const spelled of [prefixed, prefixed.toUpperCase(), prefixed.replace(/^(__host-)?p/i, (m) => m.toUpperCase())]) {
        for (const form of [`${spelled}=${value}`, ` ${spelled} = ${value}`, `\t${spelled}=${value}`, `=${spelled}=${value}`, `= ${spelled}=${value}`, spelled]) {
          lines.push(`${form}${attributes[i++ % attributes.length]}`);
        }
      }
    }
  }
  return lines;
}

/**
 * Sibling sockets are hostile (SECURITY.md rule 1): another account's app on the same parent
 * domain tries to plant, read and reuse the edge's cookies; an attacker who may use a socket tries
 * to sign a victim in as themselves with a handoff link. Replay after sign-out, tampering and a
 * planted cookie before sign-in are in test/identity-attacks.test.ts.
 */
describe('sibling sockets and cookies: isolation, planting, fixation', () => {
  const tmp = makeTempDir('security-cookies');
  /** A: alice's sign-in socket (@example.com); C: mallory's sign-in socket (@example.com); M: mallory's public socket. */
  let s: SiblingSockets;
  let browser: Browser | undefined;

  before(async () => {
    s = await SiblingSockets.start(tmp.dir, {
      bob: { sub: 'bob-sub', email: 'bob@example.com', email_verified: true },
      attacker: { sub: 'attacker-sub', email: 'attacker@example.com', email_verified: true },
    });
  });

  after(async () => {
    await browser?.close().catch(() => undefined);
    await s?.close();
    tmp.remove();
  });

  async function signedIn(login: string): Promise<WebClient> {
    const client = new WebClient(login);
    const nav = await client.navigate(`${s.originA}/headers`, { login });
    assert.equal(nav.last.status, 200, `${login} signs in at A`);
    return client;
  }

  it('drops every Set-Cookie a sibling app sends under a reserved name, in any spelling, form or attribute', async () => {
    const lines = plantingLines('planted-by-sibling');
    assert.ok(lines.length >= 250, `${lines.length} planting lines`);
    // In batches: the edge refuses (502) an app answer whose headers exceed its limit.
    for (let from = 0; from < lines.length; from += 60) {
      s.sibling.script('/plant', { headers: { 'set-cookie': [...lines.slice(from, from + 60), 'app_own=1; Domain=localhost; Path=/', '__Host-app=1; Secure; Path=/'] }, body: 'planted' });
      const res = await request({ port: s.edge.port, host: s.socketM.publicHost, path: '/plant' });
      assert.equal(res.status, 200, res.body.toString('utf8').slice(0, 200));
      const relayed = res.headers['set-cookie'] ?? [];
      const reserved = relayed.filter((line) => RESERVED.some((n) => nameSentBack(line).replace(/^__host-/, '') === n));
      assert.deepEqual(reserved, [], 'no reserved cookie reaches the browser');
      assert.deepEqual(relayed.map(nameSentBack).sort(), ['__host-app', 'app_own'], "the app's own cookies pass");
    }

    // The same lines on the 101 answer of a WebSocket upgrade.
    s.sibling.upgradeHeaders = lines.slice(0, 60).map((l) => `Set-Cookie: ${l}`);
    const ws = await rawUpgrade(s.edge.port, s.socketM.publicHost, '/ws', { origin: s.originM });
    assert.equal(ws.status, 101);
    if ('socket' in ws) ws.socket.destroy();
    assert.deepEqual([ws.headers['set-cookie'] ?? []].flat(), [], 'no reserved cookie on a 101 either');
    s.sibling.upgradeHeaders = [];
  });

  it("never hands the edge's cookies to a sibling app, whatever the browser sends it", async () => {
    const client = await signedIn('bob');
    const session = client.cookie(s.originA, 'postern_session')!;
    const names = RESERVED.flatMap((n) => [n, n.toUpperCase(), `__Host-${n}`, `__HOST-${n.toUpperCase()}`]);
    const before = s.sibling.requests.length;
    await request({ port: s.edge.port, host: s.socketM.publicHost, path: '/read', headers: { cookie: [...names.map((n) => `${n}=${session}`), 'mine=1'].join('; ') } });
    const seen = s.sibling.requests.slice(before);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.headers.cookie, 'mine=1', 'only the sibling app cookie is forwarded');
  });

  it('honours each edge cookie only on the host that set it and under its own name', async () => {
    const bob = await signedIn('bob');
    await bob.navigate(`${s.originC}/headers`);
    const values: Record<string, string> = {
      login: bob.cookie(s.edge.url, 'postern_login')!,
      sessionA: bob.cookie(s.originA, 'postern_session')!,
      sessionC: bob.cookie(s.originC, 'postern_session')!,
    };
    // A transaction cookie from a sign-in started and left at the IdP, and a handoff nonce.
    const started = new WebClient('starter');
    await started.navigate(`${s.originA}/headers`, { stopAt: (u) => u.origin === s.idp.issuer });
    values.transaction = started.cookie(s.edge.url, 'postern_tx')!;
    await started.fetch(`${s.originA}/.postern/signin?path=/`);
    values.nonce = started.cookie(s.originA, 'postern_bind')!;
    for (const [kind, value] of Object.entries(values)) assert.ok(value, `${kind} cookie obtained`);

    const signedInAtEdge = async (name: string, value: string) => {
      const res = await request({ port: s.edge.port, host: s.edge.domain, path: '/auth/login?rd=%2Fx', headers: { cookie: `${name}=${value}` } });
      return res.headers.location === '/x';
    };
    const signedInAt = async (origin: string, name: string, value: string) => {
      const res = await request({ port: s.edge.port, host: new URL(origin).host, path: '/headers', headers: { cookie: `${name}=${value}`, accept: 'application/json' } });
      return res.status === 200;
    };
    const beforeA = s.appA.requests.length;
    const beforeC = s.appC.requests.length;
    let accepted = 0;
    for (const [kind, value] of Object.entries(values)) {
      for (const name of RESERVED) {
        const expectEdge = kind === 'login' && name === 'postern_login';
        assert.equal(await signedInAtEdge(name, value), expectEdge, `${kind} as ${name} at the edge`);
        const expectA = kind === 'sessionA' && name === 'postern_session';
        assert.equal(await signedInAt(s.originA, name, value), expectA, `${kind} as ${name} at A`);
        const expectC = kind === 'sessionC' && name === 'postern_session';
        assert.equal(await signedInAt(s.originC, name, value), expectC, `${kind} as ${name} at C`);
        accepted += Number(expectA) + Number(expectC);
      }
    }
    assert.equal(s.appA.requests.length + s.appC.requests.length - beforeA - beforeC, accepted, 'only the accepted requests reached an app');
  });

  it("cannot sign a victim in as the attacker with the attacker's handoff link (login CSRF, fixation)", async () => {
    // The attacker may use A, signs in, and stops just before A's host redeems the one-time code.
    const attacker = new WebClient('attacker');
    const nav = await attacker.navigate(`${s.originA}/headers`, { login: 'attacker', stopAt: (u) => u.pathname === '/.postern/callback' });
    const link = nav.stoppedAt;
    assert.ok(link, 'the attacker holds a handoff link');

    // A victim who is not signed in opens the link: no session, sent to sign in.
    const fresh = new WebClient('victim');
    const hop = await fresh.fetch(link);
    assert.equal(hop.status, 302);
    assert.ok(hop.location?.startsWith(`${s.edge.url}/auth/login?`), `to sign-in: ${hop.location}`);
    assert.equal(fresh.cookie(s.originA, 'postern_session'), undefined, 'no session from a link alone');

    // A signed-in victim opens it: still themselves.
    const bob = await signedIn('bob');
    await bob.fetch(link);
    await bob.fetch(`${s.originA}/headers`);
    assert.equal(s.appA.last('/headers').headers['x-auth-email'], 'bob@example.com', 'the victim is still the victim');

    // The same link in the attacker's own browser (which holds the nonce) still works.
    const own = await attacker.fetch(link);
    assert.ok(own.setCookies.some((c) => c.startsWith('postern_session=') && !/max-age=0/i.test(c)), 'the attacker signs in in their own browser');
  });

  it('in Chromium: a sibling page that sends the victim to the attacker\'s handoff link leaves the victim themselves', { skip: !chromiumAvailable() && 'no /usr/bin/chromium', timeout: 60_000 }, async () => {
    browser = await launchChromium();
    const context = await browser.newContext();
    context.setDefaultTimeout(10_000);
    const page = await context.newPage();
    await page.goto(`${s.originA}/headers`);
    await idpLogin(page, 'bob', s.idp.issuer);
    await continueIfAsked(page, s.originA);
    await page.waitForURL(`${s.originA}/headers`);

    const attacker = new WebClient('attacker');
    const nav = await attacker.navigate(`${s.originA}/headers`, { login: 'attacker', stopAt: (u) => u.pathname === '/.postern/callback' });
    s.sibling.script('/lure', { body: `<!doctype html><script>location.href = ${JSON.stringify(nav.stoppedAt!.href)};</script>` });
    await page.goto(`${s.originM}/lure`);
    // The unredeemable code starts a sign-in over, which hands the victim's own login to A.
    await page.waitForURL((u) => u.host === s.socketA.publicHost && !u.pathname.startsWith('/.postern/'), { timeout: 15_000 });
    assert.equal(await page.textContent('#who'), 'X-Auth-Email: bob@example.com', 'the app at A still sees the victim');
    await context.close();
  });
});

describe('cookies over https: the __Host- prefix keeps siblings from setting them', () => {
  const tmp = makeTempDir('security-cookies-https');
  let edge: EdgeProcess;
  let app: IdentityApp;
  let socket: ConnectorProcess;

  before(async () => {
    const db = `${tmp.dir}/edge.db`;
    const alice = await createAccount(db, 'alice@example.com');
    writeFileSync(`${tmp.dir}/pw`, 'correct horse battery staple\n', { mode: 0o600 });
    const set = await runCli(['admin', 'user', 'add', 'bob@example.com', '--db', db, '--password-file', `${tmp.dir}/pw`]);
    assert.equal(set.code, 0, set.stderr.join('\n'));
    // Behind a TLS-terminating proxy: plain http on loopback, https to browsers.
    edge = await EdgeProcess.start({ db, extraArgs: ['--public-scheme', 'https', '--local-accounts'] });
    app = await IdentityApp.start('https');
    socket = await ConnectorProcess.start({ edge, token: alice, appPort: app.port, args: ['--name', 'secure', '--cloudauth', '--allowed-email-domains', 'example.com'] });
  });

  after(async () => {
    await killAll();
    await app?.close();
    tmp.remove();
  });

  it('sets every cookie of a full sign-in as __Host-, Secure, Path=/, HttpOnly, without Domain', async () => {
    const client = new WebClient('bob');
    const origin = `https://${socket.publicHost}`;
    const toForm = await client.navigate(`${origin}/headers`);
    const tx = /name="tx" value="([^"]+)"/.exec(toForm.last.body)?.[1];
    assert.ok(tx, `the local sign-in form: ${toForm.last.url}`);
    const posted = await client.fetch(`https://${edge.domain}/auth/local`, { form: { tx, email: 'bob@example.com', password: 'correct horse battery staple' }, headers: { origin: `https://${edge.domain}` } });
    assert.equal(posted.status, 302, posted.body.slice(0, 200));
    const rest = await client.navigate(posted.location!);
    assert.equal(rest.last.status, 200, rest.last.url);
    assert.equal(app.last('/headers').headers['x-auth-email'], 'bob@example.com');
    const lines = client.history.flatMap((h) => h.setCookies).filter((l) => !/max-age=0/i.test(l));
    const names = new Set(lines.map((l) => l.slice(0, l.indexOf('='))));
    for (const expected of ['__Host-postern_tx', '__Host-postern_login', '__Host-postern_bind', '__Host-postern_session']) assert.ok(names.has(expected), `${expected} set: ${[...names].join(', ')}`);
    for (const line of lines) {
      assert.match(line, /^__Host-postern_/, line);
      assert.match(line, /;\s*Secure/i, line);
      assert.match(line, /;\s*Path=\/(;|$)/i, line);
      assert.match(line, /;\s*HttpOnly/i, line);
      assert.doesNotMatch(line, /;\s*Domain=/i, line);
    }
  });
});
