import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser } from 'playwright-core';
import { chromiumAvailable, launchChromium, screenshot } from './lib/browser.js';
import { CliUser, nonEmpty } from './lib/cli-user.js';
import { request } from './lib/http.js';
import { freePort, makeTempDir, parseJson } from './lib/postern.js';
import { killAll, type ManagedProcess } from './lib/process.js';

interface DemoReady {
  event: 'ready';
  url: string;
  portal: string;
  email: string;
  password: string;
}

/**
 * `postern demo`: one command that runs an edge with local accounts, a sample app and a connector.
 * The ready line, a sign-in in Chromium that ends on the app greeting the demo user, a clean stop on
 * SIGINT, and a second start on the same database keeping the app's URL.
 */
describe('postern demo', () => {
  const tmp = makeTempDir('demo');
  const db = join(tmp.dir, 'demo.db');
  const user = new CliUser(join(tmp.dir, 'user'));
  const spawned: ManagedProcess[] = [];
  let browser: Browser | undefined;
  let first: { proc: ManagedProcess; ready: DemoReady; port: number } | undefined;

  before(async () => {
    if (chromiumAvailable()) browser = await launchChromium();
  });

  after(async () => {
    for (const proc of spawned) await proc.stop('SIGKILL', 5_000).catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await killAll();
    tmp.remove();
  });

  /** Starts `postern demo --json` on a free port (another try if the port was taken meanwhile). */
  async function startDemo(label: string, fixedPort?: number): Promise<{ proc: ManagedProcess; ready: DemoReady; port: number }> {
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = fixedPort ?? (await freePort());
      const proc = user.spawn(label, ['demo', '--port', String(port), '--db', db, '--json']);
      spawned.push(proc);
      try {
        const line = await proc.waitForLine((l, s) => s === 'stdout' && l.trim() !== '', 20_000, 'the ready line');
        const ready = parseJson<DemoReady>(line);
        assert.equal(ready?.event, 'ready', `the first stdout line is the ready event\n${proc.output()}`);
        return { proc, ready: ready!, port };
      } catch (err) {
        lastError = err;
        await proc.stop('SIGKILL', 5_000).catch(() => undefined);
        if (fixedPort !== undefined || !/is in use/.test(proc.stderrLines.join('\n'))) break;
      }
    }
    throw lastError;
  }

  it('prints one ready line with the app URL, the portal, and the demo sign-in', async () => {
    first = await startDemo('demo:1');
    const { ready, port } = first;
    assert.deepEqual(Object.keys(ready).sort(), ['email', 'event', 'password', 'portal', 'url']);
    assert.equal(ready.portal, `http://localhost:${port}`);
    assert.equal(ready.email, 'demo@example.com');
    assert.ok(ready.password.length >= 12, 'a real password');
    const url = new URL(ready.url);
    assert.equal(url.protocol, 'http:');
    assert.match(url.hostname, /^hello-[a-z0-9]{6}\.localhost$/, 'the demo socket "hello" on the edge domain');
    assert.equal(url.port, String(port));
    assert.ok(existsSync(db), 'the demo keeps its data in the --db file');

    // The app needs sign-in: a browser is sent to the edge, a script is refused.
    const browserLike = await request({ port, host: url.host, path: '/', headers: { accept: 'text/html' } });
    assert.equal(browserLike.status, 302);
    assert.ok(String(browserLike.headers.location).startsWith(`${ready.portal}/auth/login`), `redirected to the edge's sign-in (${browserLike.headers.location})`);
    const script = await request({ port, host: url.host, path: '/' });
    assert.equal(script.status, 401);
  });

  it(
    'in Chromium: the app URL leads to sign-in; with the printed email and password the app says "Hello, demo@example.com"',
    { skip: !chromiumAvailable() && 'no Chromium at /usr/bin/chromium (set POSTERN_CHROMIUM)' },
    async () => {
      assert.ok(first && browser, 'the demo is running');
      const context = await browser.newContext();
      try {
        context.setDefaultTimeout(10_000);
        context.setDefaultNavigationTimeout(10_000);
        const page = await context.newPage();
        await page.goto(first.ready.url);
        await page.waitForURL((u) => u.origin === first!.ready.portal && u.pathname.startsWith('/auth/'));
        await page.getByRole('heading', { name: 'Sign in with your Postern account' }).waitFor();
        await page.fill('input[name="email"]', first.ready.email);
        await page.fill('input[name="password"]', first.ready.password);
        await Promise.all([page.waitForURL((u) => u.origin === new URL(first!.ready.url).origin), page.click('button[type="submit"]')]);
        await page.getByRole('heading', { name: 'Hello, demo@example.com' }).waitFor();
        assert.equal(new URL(page.url()).origin, new URL(first.ready.url).origin, 'back on the app');
        console.log(`screenshot: ${await screenshot(page, 'demo-hello')}`);
      } finally {
        await context.close();
      }
    },
  );

  it('stops on SIGINT with exit 0; a second start on the same database keeps the URL', async () => {
    assert.ok(first, 'the demo is running');
    const exit = await first.proc.stop('SIGINT', 10_000);
    assert.equal(exit.code, 0, first.proc.output());
    assert.equal(exit.signal, null);
    assert.doesNotMatch(first.proc.stderrLines.join('\n'), /error/i, first.proc.output());
    assert.equal(nonEmpty(first.proc.stdoutLines).length, 1, `only the ready line on stdout\n${first.proc.output()}`);

    // Same port and database: the same URL (the socket's hostname is stable); a new password.
    const second = await startDemo('demo:2', first.port).catch(async () => startDemo('demo:2-other-port'));
    assert.equal(new URL(second.ready.url).hostname, new URL(first.ready.url).hostname, 'the same hostname');
    if (second.port === first.port) assert.equal(second.ready.url, first.ready.url, 'the same URL');
    assert.notEqual(second.ready.password, first.ready.password, 'a new password at every start');
    const res = await request({ port: second.port, host: new URL(second.ready.url).host, path: '/', headers: { accept: 'text/html' } });
    assert.equal(res.status, 302, 'the app is served again');
    const stopped = await second.proc.stop('SIGINT', 10_000);
    assert.equal(stopped.code, 0, second.proc.output());
  });
});
