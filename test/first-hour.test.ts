import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import semver from 'semver';
import { chromiumAvailable, launchChromium, screenshot } from './lib/browser.js';
import { CliUser, assertOneErrorLine, nonEmpty } from './lib/cli-user.js';
import { expireToken } from './lib/edge-db.js';
import { request } from './lib/http.js';
import { IdentityApp } from './lib/identity-app.js';
import {
  CLI,
  ConnectorProcess,
  EdgeProcess,
  REPO_ROOT,
  api,
  cleanEnv,
  createAccount,
  createSocket,
  freePort,
  makeTempDir,
  spawnConnector,
  type SocketView,
} from './lib/postern.js';
import { killAll } from './lib/process.js';
import { TmuxTerminal, tmuxAvailable } from './lib/tmux.js';
import { pollUntil } from './lib/wait.js';

const PASSWORD = 'first hour password 4b1d';
/** CI installs every tool these tests need: there a missing one is a failure, not a skip. */
const skipWithout = (available: boolean, what: string): string | false => !available && !process.env.CI && `no ${what}`;

interface SocketInfo extends SocketView {
  online: boolean;
  ephemeral: boolean;
  removal_at: string | null;
}

/** The owner's sockets by name, as the API lists them. */
async function socketsNamed(edge: EdgeProcess, token: string, name: string): Promise<SocketInfo[]> {
  const res = await api(edge, token, 'GET', '/sockets');
  assert.equal(res.status, 200);
  return (res.json as SocketInfo[]).filter((s) => s.name === name);
}

/** Waits until the account has no socket called `name` (bounded). */
function waitUntilGone(edge: EdgeProcess, token: string, name: string, timeoutMs: number, why: string): Promise<true> {
  return pollUntil(async () => ((await socketsNamed(edge, token, name)).length === 0 ? true : undefined), { timeoutMs, intervalMs: 200, what: why });
}

/**
 * What a new user hits in the first hour (issue 11), each at its cause: the edge's pages in
 * Chromium (the stylesheet, the 403 page, the sign-in error, the icon, the wording), and quick
 * shares that leave with their connector however it ends. The CLI's one-line errors are in
 * cli-bad-input.test.ts.
 */
describe('the first hour: pages, wording and quick shares', () => {
  const tmp = makeTempDir('first-hour');
  const db = join(tmp.dir, 'edge.db');
  let edge: EdgeProcess;
  let app: IdentityApp;
  let alice: string;
  let bob: string;
  let browser: Browser | undefined;
  const contexts: BrowserContext[] = [];

  before(async () => {
    alice = await createAccount(db, 'alice@corp.test', PASSWORD);
    bob = await createAccount(db, 'bob@corp.test', PASSWORD);
    await createAccount(db, 'carol@other.test', PASSWORD);
    edge = await EdgeProcess.start({ db, extraArgs: ['--local-accounts'] });
    app = await IdentityApp.start('first-hour app');
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await killAll();
    await app?.close();
    tmp.remove();
  });

  async function newPage(viewport = { width: 1100, height: 800 }): Promise<Page> {
    browser ??= await launchChromium();
    const context = await browser.newContext({ viewport });
    context.setDefaultTimeout(10_000);
    context.setDefaultNavigationTimeout(10_000);
    contexts.push(context);
    return context.newPage();
  }

  /** Fills the edge's local sign-in form the browser is on. */
  async function fillSignIn(page: Page, email: string, password: string): Promise<void> {
    await page.waitForURL((u) => u.pathname === '/auth/start/local');
    await page.fill('#email', email);
    await page.fill('#password', password);
    await page.click('button[type="submit"]');
  }

  describe('pages in Chromium', { skip: skipWithout(chromiumAvailable(), '/usr/bin/chromium') }, () => {
    it('portal: the whole tile is a link, a long hostname ends in an ellipsis, same-named tiles say how they differ, a connected tunnel is "up"', async () => {
      const wiki = await createSocket(edge, alice, 'wiki');
      const tunnel = await api(edge, alice, 'POST', '/tunnels', { socket_id: wiki.id, name: 'office' });
      assert.equal(tunnel.status, 201);
      await ConnectorProcess.start({ edge, token: alice, appPort: app.port, label: 'connect:wiki', args: ['--socket', wiki.id, '--tunnel', (tunnel.json as { id: string }).id] });
      const quick = await api(edge, alice, 'POST', '/sockets', { name: 'wiki', ephemeral: true });
      assert.equal(quick.status, 201);
      const bobs = await api(edge, bob, 'POST', '/sockets', { name: 'wiki', allowed_email_addresses: ['alice@corp.test'] });
      assert.equal(bobs.status, 201);
      const long = await createSocket(edge, alice, 'an-internal-application-with-a-very-long-name');

      let page = await newPage();
      await page.goto(`${edge.url}/`);
      await page.getByRole('link', { name: 'Sign in', exact: true }).click();
      await fillSignIn(page, 'alice@corp.test', PASSWORD);
      await page.waitForURL(`${edge.url}/`);
      console.log(`screenshot: ${await screenshot(page, 'first-hour-portal')}`);

      // The rules that were dead while the stylesheet went through the HTML escaping.
      const rules = await page.evaluate<string>(`[...document.styleSheets].flatMap((sheet) => [...sheet.cssRules].map((rule) => rule.cssText)).join('\\n')`);
      assert.match(rules, /a\.tile-name::after \{ content: ""; position: absolute; inset: 0px; \}/);
      assert.match(rules, /\.tile-head > div \{ min-width: 0px; \}/);
      assert.doesNotMatch(await page.content(), /&quot;&quot;|&gt;div/);

      // A point in the tile far from the name (over its badges) belongs to the tile's link.
      const tile = page.locator(`#apps .app[data-host="${wiki.hostname}"]`);
      const box = (await tile.boundingBox())!;
      const corner = { x: box.x + box.width - 6, y: box.y + box.height - 6 };
      const hit = await page.evaluate<string | null>(`document.elementFromPoint(${corner.x}, ${corner.y})?.closest('a')?.getAttribute('href') ?? null`);
      assert.equal(hit, wiki.url);
      const opened = page.waitForRequest((req) => new URL(req.url()).host === new URL(wiki.url).host, { timeout: 10_000 });
      await page.mouse.click(corner.x, corner.y);
      await opened;
      // The click's sign-in hand-off goes on redirecting in that tab (a goto there races it: "navigation
      // interrupted"); the rest looks at the portal in a new tab of the same browser profile.
      page = await page.context().newPage();
      await page.goto(`${edge.url}/`);

      const host = await page.evaluate<{ scroll: number; client: number; overflow: string; right: number; tileRight: number }>(`(() => {
        const el = document.querySelector('#apps .app[data-host="${long.hostname}"] .host');
        return { scroll: el.scrollWidth, client: el.clientWidth, overflow: getComputedStyle(el).textOverflow, right: el.getBoundingClientRect().right, tileRight: el.closest('.tile').getBoundingClientRect().right };
      })()`);
      assert.ok(host.scroll > host.client, `the hostname is longer than its box (${host.scroll} > ${host.client})`);
      assert.equal(host.overflow, 'ellipsis');
      assert.ok(host.right <= host.tileRight, 'and it stays inside its tile');

      const twins = await page.evaluate<string[]>(
        `[...document.querySelectorAll('#apps .app')].filter((el) => el.querySelector('.tile-name')?.textContent === 'wiki').map((el) => el.querySelector('.twin')?.textContent?.trim() ?? '')`,
      );
      assert.equal(twins.length, 3);
      assert.deepEqual([...twins].sort(), ["Another account's app", 'Your permanent, created just now', 'Your quick share, created just now']);
      assert.equal(await page.locator(`#apps .app[data-host="${long.hostname}"] .twin`).count(), 0, 'a unique name needs no note');

      const card = (await page.locator(`#sockets .socket[data-host="${wiki.hostname}"]`).textContent()) ?? '';
      assert.match(card, /office · Connected\s*up for less than a minute/);
      assert.doesNotMatch(card, /last connected/, 'a connected tunnel is not "last connected"');

      // Sign-out on the edge's own host ends the portal session, not "this app".
      await page.getByRole('link', { name: 'Sign out' }).click();
      await page.waitForURL(`${edge.url}/auth/signout`);
      assert.ok(await page.getByRole('button', { name: 'Sign out of the portal' }).isVisible());
      assert.equal(await page.getByText('Sign out of this app').count(), 0);
    });

    it('the 403 page wraps between words, never inside one, on a phone-sized screen', async () => {
      const socket = (await api(edge, alice, 'POST', '/sockets', { name: 'payroll', allowed_email_addresses: ['bob@corp.test'] })).json as SocketView;
      await ConnectorProcess.start({ edge, token: alice, appPort: app.port, label: 'connect:payroll', args: ['--socket', socket.id] });
      const page = await newPage({ width: 360, height: 740 });
      await page.goto(socket.url);
      await fillSignIn(page, 'carol@other.test', PASSWORD);
      await page.getByRole('heading', { name: 'You do not have access to this app' }).waitFor();
      console.log(`screenshot: ${await screenshot(page, 'first-hour-403')}`);

      // Every word that fits on a line is drawn on one line: one client rect per word.
      const split = await page.evaluate<string[]>(`(() => {
        const broken = [];
        for (const box of document.querySelectorAll('dd, p')) {
          const walker = document.createTreeWalker(box, NodeFilter.SHOW_TEXT);
          for (let node = walker.nextNode(); node; node = walker.nextNode()) {
            for (const match of node.textContent.matchAll(/\\S+/g)) {
              const range = document.createRange();
              range.setStart(node, match.index);
              range.setEnd(node, match.index + match[0].length);
              // A word may break only when it does not fit on a line by itself (a long hostname).
              const rects = [...range.getClientRects()];
              const width = rects.reduce((sum, r) => sum + r.width, 0);
              const lines = new Set(rects.map((r) => Math.round(r.top))).size;
              if (lines > 1 && width <= box.clientWidth) broken.push(match[0]);
            }
          }
        }
        return broken;
      })()`);
      assert.deepEqual(split, [], 'no word is broken across lines');
      const why = (await page.locator('dd').nth(2).textContent()) ?? '';
      assert.ok(why.length > 30, `the reason is a sentence that has to wrap at 360 px: "${why}"`);
    });

    it('a wrong password is an error on the page, not plain text; the edge and its pages have an icon', async () => {
      const page = await newPage();
      await page.goto(`${edge.url}/auth/login?rd=/`);
      await page.waitForURL((u) => u.pathname === '/auth/start/local');
      assert.equal(await page.locator('[role="alert"]').count(), 0, 'no error before a try');
      await page.fill('#email', 'alice@corp.test');
      await page.fill('#password', 'not the password');
      const [answer] = await Promise.all([page.waitForResponse((res) => res.request().method() === 'POST'), page.click('button[type="submit"]')]);
      assert.equal(answer.status(), 401);
      const alert = page.locator('[role="alert"]');
      assert.equal((await alert.textContent())?.trim(), 'Wrong email or password.');
      const style = await page.evaluate<{ color: string; background: string }>(
        `(() => { const s = getComputedStyle(document.querySelector('[role="alert"]')); return { color: s.color, background: s.backgroundColor }; })()`,
      );
      assert.deepEqual(style, { color: 'rgb(153, 27, 27)', background: 'rgb(254, 242, 242)' }, 'red text on a red tint');
      assert.equal(await page.inputValue('#email'), 'alice@corp.test', 'the email is kept for the next try');
      console.log(`screenshot: ${await screenshot(page, 'first-hour-login-error')}`);

      // The icon lives on a reserved path that every host serves, so an edge page on a socket's host
      // never asks that app for its /favicon.ico (which may sit behind sign-in).
      assert.equal(await page.getAttribute('link[rel="icon"]', 'href'), '/.postern/favicon.svg');
      const socket = (await api(edge, alice, 'POST', '/sockets', { name: 'icon-check', cloudauth: true })).json as SocketView; // behind sign-in, no connector
      for (const [host, path] of [[edge.domain, '/favicon.ico'], [edge.domain, '/.postern/favicon.svg'], [new URL(socket.url).host, '/.postern/favicon.svg']] as const) {
        const icon = await request({ port: edge.port, host, path });
        assert.equal(icon.status, 200, `${host}${path}`);
        assert.equal(icon.headers['content-type'], 'image/svg+xml');
        assert.match(icon.body.toString('utf8'), /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
      }
    });
  });

  it('connect: --json lines are snake_case throughout; the 502 page names the connector and its app, not the public name as "the app"', async () => {
    const nothing = await freePort();
    const conn = await ConnectorProcess.start({ edge, token: alice, appPort: nothing, label: 'connect:nothing', args: ['--name', 'down'] });
    await pollUntil(async () => (conn.events().filter((e) => e.event === 'connection').length >= 2 ? true : undefined), {
      timeoutMs: 10_000,
      what: 'both tunnel connections to report',
    });
    for (const event of conn.events()) {
      assert.deepEqual(Object.keys(event).filter((key) => /[A-Z]/.test(key)), [], `no camelCase key in ${JSON.stringify(event)}`);
    }
    assert.ok(conn.events().some((e) => e.event === 'connection' && typeof e.connection_id === 'string'));

    const res = await request({ port: edge.port, host: conn.publicHost, path: '/', headers: { accept: 'application/json' } });
    assert.equal(res.status, 502);
    const { message } = (JSON.parse(res.body.toString('utf8')) as { error: { message: string } }).error;
    assert.match(message, new RegExp(`^The connector for ${conn.publicHost.replace(/\./g, '\\.')} is online, but the app it serves on its machine is not answering \\(.*ECONNREFUSED`));
    await conn.stop();
  });

  it('SIGHUP (the terminal closed): connect drains and removes its quick share, as for Ctrl-C', { skip: skipWithout(tmuxAvailable(), '/usr/bin/tmux') }, async () => {
    const env = cleanEnv({ POSTERN_EDGE: edge.url, POSTERN_TOKEN: alice, HOME: tmp.dir, TERM: 'xterm-256color' });
    const term = await TmuxTerminal.start([process.execPath, CLI, 'connect', '--port', String(app.port), '--name', 'hangup'], env);
    try {
      const screen = await term.waitFor((s) => /tunnel 2: up/.test(s), 'both tunnels up');
      // Without --cloudauth the socket is "public", the word `socket create` uses.
      assert.match(screen, /this socket is public: anyone who knows the URL can reach it/);
      assert.equal((await socketsNamed(edge, alice, 'hangup')).length, 1);
    } finally {
      await term.kill(); // closes the pane's terminal: the connector gets SIGHUP
    }
    // Well within the reaper's 5 minutes: only the connector's own goodbye can remove it this fast.
    await waitUntilGone(edge, alice, 'hangup', 10_000, 'the quick share to be removed after SIGHUP');
    const audit = await api(edge, alice, 'GET', '/audit?limit=20');
    const removal = (audit.json as { type: string; actor: string; detail: { name?: string } }[]).find((e) => e.type === 'socket.delete' && e.detail.name === 'hangup');
    assert.equal(removal?.actor, 'alice@corp.test', 'deleted by the connector itself, not by the edge');
  });

  it('a revoked token: the connector stops with one line and the edge removes its quick share at once', async () => {
    const created = await api(edge, alice, 'POST', '/tokens', { name: 'laptop' });
    const laptop = created.json as { token: string; id: string };
    const conn = await ConnectorProcess.start({ edge, token: laptop.token, appPort: app.port, label: 'connect:revoked', args: ['--name', 'revoked'] });
    assert.equal((await api(edge, alice, 'DELETE', `/tokens/${laptop.id}`)).status, 204);
    const exit = await conn.proc.waitExit(10_000);
    const line = assertOneErrorLine(['connect'], { ...exit, stdout: [], stderr: conn.proc.stderrLines });
    assert.match(line, /^error: the edge closed this tunnel: token was revoked$/);
    // The connector cannot delete it with a revoked token; the edge did, with the revocation.
    assert.deepEqual(await socketsNamed(edge, alice, 'revoked'), []);
  });

  it("the README's local-account step leaves no password file behind", async () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const step = /^npx postern admin user add \S+ --db \.\/postern\.db --password-file - .*$/m.exec(readme)?.[0];
    assert.ok(step, 'the README adds the local account with --password-file -');
    assert.doesNotMatch(readme, /> ?pw\b|echo '[^']*' >/, 'no password is echoed into a file');
    const cwd = makeTempDir('readme-password');
    try {
      const command = step.replace(/^npx postern/, `"${process.execPath}" "${CLI}"`);
      const output = await new Promise<string>((resolve, reject) => {
        const child = execFile('bash', ['-c', command], { cwd: cwd.dir, env: cleanEnv(), timeout: 15_000 }, (err, stdout, stderr) =>
          err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout),
        );
        child.stdin?.end('correct horse battery\n'); // what a script pipes in (typed at a terminal it is not echoed)
      });
      assert.match(output, /local-account password set/);
      assert.deepEqual(readdirSync(cwd.dir).filter((f) => !/^postern\.db(-wal|-shm)?$/.test(f)), [], 'only the database is left in the directory');
    } finally {
      cwd.remove();
    }
  });

  it("npm ci gives no engine warning: every locked package runs on the Node version package.json promises", () => {
    const root = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { engines: { node: string } };
    const lowest = semver.minVersion(root.engines.node)!.version;
    const lock = JSON.parse(readFileSync(join(REPO_ROOT, 'package-lock.json'), 'utf8')) as { packages: Record<string, { engines?: { node?: string } | string[] }> };
    const refusing = Object.entries(lock.packages)
      .map(([path, pkg]) => [path, Array.isArray(pkg.engines) ? undefined : pkg.engines?.node] as const)
      .filter(([, range]) => range !== undefined && !semver.satisfies(lowest, range));
    assert.deepEqual(refusing, [], `packages that want a newer Node than ${lowest}`);
  });
});

/**
 * Connectors that end without a goodbye. The edge removes their quick shares: with the credential
 * that ended, or after --quick-share-timeout without a connector (6 s here, 5 min by default).
 */
describe('quick shares whose connector is gone', () => {
  const tmp = makeTempDir('quick-share-reaper');
  const db = join(tmp.dir, 'edge.db');
  let edge: EdgeProcess;
  let app: IdentityApp;
  let owner: string;
  let user: CliUser;

  before(async () => {
    owner = await createAccount(db, 'owner@corp.test');
    edge = await EdgeProcess.start({ db, extraArgs: ['--quick-share-timeout', '6s'] });
    app = await IdentityApp.start('reaper app');
    user = new CliUser(join(tmp.dir, 'owner'), { POSTERN_EDGE: edge.url, POSTERN_TOKEN: owner });
  });

  after(async () => {
    await killAll();
    await app?.close();
    tmp.remove();
  });

  /** A new token of the owner's, to connect with and then let lapse. */
  async function newToken(name: string): Promise<{ token: string; id: string }> {
    const res = await api(edge, owner, 'POST', '/tokens', { name });
    assert.equal(res.status, 201);
    return res.json as { token: string; id: string };
  }

  it('kill -9: socket ls marks it "connector gone" with the time it goes, and the reaper removes it', async () => {
    const conn = await ConnectorProcess.start({ edge, token: owner, appPort: app.port, label: 'connect:killed', args: ['--name', 'killed'] });
    await conn.proc.stop('SIGKILL');
    const marked = await pollUntil(
      async () => {
        const [share] = await socketsNamed(edge, owner, 'killed');
        return share && !share.online && share.removal_at ? share : undefined;
      },
      { timeoutMs: 5_000, intervalMs: 100, what: 'the API to give the removal time' },
    );
    assert.ok(Date.parse(marked.removal_at!) - Date.now() <= 6_000, `removed within the timeout (${marked.removal_at})`);
    const ls = await user.run(['socket', 'ls']);
    assert.equal(ls.code, 0, ls.stderr.join('\n'));
    assert.match(nonEmpty(ls.stdout).find((l) => l.includes('killed')) ?? '', /connector gone, removed within a minute/);

    await waitUntilGone(edge, owner, 'killed', 15_000, 'the reaper to remove the abandoned quick share');
    const audit = await api(edge, owner, 'GET', '/audit?limit=20');
    const removal = (audit.json as { type: string; actor: string; detail: { name?: string; reason?: string } }[]).find((e) => e.type === 'socket.delete' && e.detail.name === 'killed');
    assert.equal(removal?.actor, 'edge');
    assert.equal(removal?.detail.reason, 'quick share left without a connector');
  });

  it('a token that expires while connected: the tunnels close, connect says why in one line, the quick share goes', async () => {
    const short = await newToken('expiring');
    const conn = await ConnectorProcess.start({ edge, token: short.token, appPort: app.port, label: 'connect:expiring', args: ['--name', 'expiring'] });
    // Both tunnels up first: a dial still under way would be refused instead (also one clear line).
    await pollUntil(async () => (conn.events().filter((e) => e.event === 'connection' && e.state === 'up').length >= 2 ? true : undefined), {
      timeoutMs: 10_000,
      what: 'both tunnel connections up',
    });
    expireToken(db, short.id);
    const exit = await conn.proc.waitExit(10_000);
    const line = assertOneErrorLine(['connect'], { ...exit, stdout: [], stderr: conn.proc.stderrLines });
    assert.match(line, /^error: the edge closed this tunnel: this Postern token expired on \S+: run "postern login" for a new one$/);
    assert.deepEqual(await socketsNamed(edge, owner, 'expiring'), [], 'removed with its tunnels');
  });

  it('a token that expired while the edge was down: the reconnect is refused in words, and the quick share is reaped', async () => {
    const short = await newToken('reconnecting');
    const proc = spawnConnector({ edge, token: short.token, appPort: app.port, label: 'connect:reconnect', args: ['--name', 'reconnect'] });
    await proc.waitForLine((l) => l.includes('"event":"ready"'), 15_000, 'the ready line');
    await edge.stop();
    expireToken(db, short.id);
    edge = await edge.restart();
    const exit = await proc.waitExit(20_000);
    const line = assertOneErrorLine(['connect'], { ...exit, stdout: [], stderr: proc.stderrLines });
    assert.match(line, /^error: edge refused the tunnel \(401\): this Postern token expired on \S+: run "postern login" for a new one$/);
    await waitUntilGone(edge, owner, 'reconnect', 15_000, 'the reaper to remove the quick share of the refused connector');
  });
});
