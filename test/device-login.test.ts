import assert from 'node:assert/strict';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { chromiumAvailable, idpLogin, launchChromium, screenshot } from './lib/browser.js';
import { CliUser, nonEmpty } from './lib/cli-user.js';
import { startEdgeWithIdp, type TestIdp } from './lib/idp.js';
import { api, makeTempDir, parseJson, runCli, type EdgeProcess } from './lib/postern.js';
import { killAll, type ManagedProcess } from './lib/process.js';

interface LoginJson {
  edge: string;
  email: string;
  token_id: string;
  expires_at: string | null;
  publisher: boolean;
  credentials: string;
}

/** What `postern login` (device flow) tells the person on stderr. */
interface Prompt {
  readonly url: string;
  readonly code: string;
}

/**
 * `postern login` by device authorization, end to end: the real CLI polls a real edge while a real
 * Chromium signs in on the edge (a local account, or a new person through OIDC) and approves or
 * denies the code. The edge offers both OIDC and local accounts, so the sign-in page is a chooser.
 */
describe('postern login by device flow, approved in Chromium', { skip: !chromiumAvailable() && 'no Chromium at /usr/bin/chromium (set POSTERN_CHROMIUM)' }, () => {
  const tmp = makeTempDir('device-login');
  const db = join(tmp.dir, 'edge.db');
  const password = 'correct horse battery staple 42';
  let edge: EdgeProcess;
  let idp: TestIdp;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const spawned: ManagedProcess[] = [];
  /** The user code of the approved login, to try again once used. */
  let usedCode: string | undefined;
  /** A browser context already signed in on the edge as bob. */
  let bobPage: Page | undefined;

  before(async () => {
    const passwordFile = join(tmp.dir, 'password');
    writeFileSync(passwordFile, `${password}\n`, { mode: 0o600 });
    const added = await runCli(['admin', 'user', 'add', 'bob@example.com', '--password-file', passwordFile, '--db', db, '--json']);
    assert.equal(added.code, 0, added.stderr.join('\n'));
    assert.equal(parseJson<{ password_set: boolean }>(added.stdout[0] ?? '')?.password_set, true);
    ({ edge, idp } = await startEdgeWithIdp({
      db,
      dir: tmp.dir,
      extraArgs: ['--local-accounts'],
      accounts: { newbie: { sub: 'newbie-sub-1', email: 'newbie@outside.test', email_verified: true, name: 'New Person' } },
    }));
    browser = await launchChromium();
  });

  after(async () => {
    for (const proc of spawned) await proc.stop('SIGKILL', 5_000).catch(() => undefined);
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await edge?.stop().catch(() => undefined);
    await killAll();
    await idp?.close();
    tmp.remove();
  });

  async function newPage(): Promise<Page> {
    const context = await browser.newContext();
    context.setDefaultTimeout(10_000);
    context.setDefaultNavigationTimeout(10_000);
    contexts.push(context);
    return context.newPage();
  }

  /** Spawns `postern login --edge URL --json` and reads the URL and code it prints on stderr. */
  async function startLogin(user: CliUser, label: string): Promise<{ proc: ManagedProcess; prompt: Prompt }> {
    const proc = user.spawn(label, ['login', '--edge', edge.url, '--json']);
    spawned.push(proc);
    const open = await proc.waitForLine((l, s) => s === 'stderr' && /To sign in, open \S+/.test(l), 15_000, 'the "To sign in, open" line');
    const url = /To sign in, open (\S+)/.exec(open)![1]!;
    const codeLine = await proc.waitForLine((l, s) => s === 'stderr' && /shows the code/.test(l), 5_000, 'the code line');
    const code = /the code ([A-Z0-9]{4}-[A-Z0-9]{4})/.exec(codeLine)?.[1];
    assert.ok(code, `a XXXX-XXXX code in: ${codeLine}`);
    assert.equal(url, `${edge.url}/device?code=${code}`, 'the URL carries the code');
    assert.deepEqual(nonEmpty(proc.stdoutLines), [], 'nothing on stdout while waiting');
    return { proc, prompt: { url, code } };
  }

  /** From the CLI's URL through the chooser and the local-account form to the code page. */
  async function signInLocal(page: Page, prompt: Prompt): Promise<void> {
    await page.goto(prompt.url);
    await page.waitForURL((u) => u.pathname === '/auth/login');
    await page.click('text=Continue with a Postern account');
    await page.fill('input[name="email"]', 'bob@example.com');
    await page.fill('input[name="password"]', password);
    await Promise.all([page.waitForURL((u) => u.pathname === '/device'), page.click('button[type="submit"]')]);
  }

  /** On the code page: check the code is filled in, press Continue, and land on the approval page. */
  async function continueToApproval(page: Page, prompt: Prompt): Promise<void> {
    assert.equal(await page.inputValue('#user_code'), prompt.code, 'the code from the link is filled in');
    await page.click('button:has-text("Continue")');
    await page.getByRole('heading', { name: 'Approve this sign-in?' }).waitFor();
    assert.equal((await page.textContent('#code'))?.trim(), prompt.code, 'the approval page shows the same code as the terminal');
  }

  it('approves a login: the CLI exits 0 with JSON naming the account, stores the token, and whoami works', async () => {
    const bob = new CliUser(join(tmp.dir, 'bob'));
    const { proc, prompt } = await startLogin(bob, 'login:approve');
    const page = await newPage();
    await signInLocal(page, prompt);
    await continueToApproval(page, prompt);
    const body = (await page.textContent('body')) ?? '';
    assert.match(body, /Signed in as\s*bob@example\.com/);
    assert.match(body, /Approve only if you just ran "postern login"/);
    console.log(`screenshot: ${await screenshot(page, 'device-approve')}`);

    await page.click('button:has-text("Approve")');
    await page.getByRole('heading', { name: 'Done: you can go back to your terminal' }).waitFor();
    console.log(`screenshot: ${await screenshot(page, 'device-approved')}`);
    bobPage = page;
    usedCode = prompt.code;

    const exit = await proc.waitExit(15_000);
    assert.equal(exit.code, 0, proc.output());
    const lines = nonEmpty(proc.stdoutLines);
    assert.equal(lines.length, 1, `one JSON document on stdout\n${proc.output()}`);
    const result = JSON.parse(lines[0]!) as LoginJson;
    assert.equal(result.email, 'bob@example.com');
    assert.equal(result.edge, edge.url);
    assert.equal(result.publisher, true, 'an admin-made account may publish');
    assert.match(result.token_id, /^tok_/);
    assert.ok(result.expires_at && Date.parse(result.expires_at) > Date.now() + 30 * 86_400_000, 'a login token lasts weeks, not forever');
    assert.doesNotMatch(proc.stderrLines.join('\n'), /error/i, proc.output());

    assert.equal(result.credentials, bob.credentialsFile);
    assert.equal(statSync(bob.credentialsFile).mode & 0o777, 0o600);
    assert.equal(statSync(bob.credentialsDir).mode & 0o777, 0o700);
    const me = await bob.json<{ email: string; edge: string; token: { id: string; name: string } }>(['whoami', '--json']);
    assert.equal(me.email, 'bob@example.com');
    assert.equal(me.edge, edge.url);
    assert.equal(me.token.id, result.token_id);
    assert.match(me.token.name, /^postern login \(/, 'the token is named after the login');
    const sockets = await bob.json(['socket', 'create', '--name', 'bobs-app', '--json']);
    assert.equal(sockets.name, 'bobs-app');

    const audit = await bob.json<{ type: string; detail: Record<string, unknown> }[]>(['audit', '--json']);
    assert.ok(audit.some((e) => e.type === 'device.approve'), 'device.approve is in the audit log');
    assert.ok(audit.some((e) => e.type === 'token.create' && e.detail.via === 'device login'), 'so is the token it minted');
  });

  it('shows an error when the code that was already used is entered again', async () => {
    assert.ok(usedCode && bobPage, 'the approval test ran');
    const page = bobPage;
    await page.goto(`${edge.url}/device?code=${usedCode}`);
    assert.equal(await page.inputValue('#user_code'), usedCode);
    const [response] = await Promise.all([page.waitForResponse((r) => r.request().method() === 'POST' && new URL(r.url()).pathname === '/device'), page.click('button:has-text("Continue")')]);
    assert.equal(response.status(), 400);
    await page.waitForLoadState();
    const body = (await page.textContent('body')) ?? '';
    assert.match(body, /That code is unknown, expired or already used/);
    assert.equal(await page.getByRole('button', { name: 'Approve' }).count(), 0, 'no Approve button for a used code');
    console.log(`screenshot: ${await screenshot(page, 'device-code-used')}`);
  });

  it('a denied login: the CLI exits non-zero with one line "login failed: … denied" and stores nothing', async () => {
    assert.ok(bobPage, 'bob is signed in on the edge');
    const carol = new CliUser(join(tmp.dir, 'denied'));
    const { proc, prompt } = await startLogin(carol, 'login:deny');
    const page = bobPage;
    // Already signed in on the edge: the link goes straight to the code page.
    await page.goto(prompt.url);
    await page.waitForURL((u) => u.pathname === '/device');
    await continueToApproval(page, prompt);
    await page.click('button:has-text("Deny")');
    await page.getByRole('heading', { name: 'Sign-in denied' }).waitFor();
    console.log(`screenshot: ${await screenshot(page, 'device-denied')}`);

    const exit = await proc.waitExit(15_000);
    assert.notEqual(exit.code, 0, proc.output());
    assert.equal(exit.signal, null);
    const instructions = /^(To sign in, open |and check that it shows the code |Waiting for approval)/;
    const others = nonEmpty(proc.stderrLines).filter((l) => !instructions.test(l));
    assert.equal(others.length, 1, `one line besides the instructions\n${proc.output()}`);
    assert.match(others[0]!, /^error: login failed: .*denied/);
    assert.doesNotMatch(proc.stderrLines.join('\n'), /^\s+at /m);
    assert.deepEqual(nonEmpty(proc.stdoutLines), []);
    assert.equal(existsSync(carol.credentialsFile), false, 'no credentials stored');
    assert.match(await carol.fails(['whoami', '--json']), /^error: not logged in: run "postern login --edge URL"/);
  });

  it('a new person (OIDC) gets an account that may reach but not publish: socket create → NOT_PUBLISHER until the admin allows it', async () => {
    const newbie = new CliUser(join(tmp.dir, 'newbie'));
    const { proc, prompt } = await startLogin(newbie, 'login:newbie');
    const page = await newPage();
    await page.goto(prompt.url);
    await page.waitForURL((u) => u.pathname === '/auth/login');
    await page.click('text=Continue with Corp SSO');
    await idpLogin(page, 'newbie', idp.issuer);
    await page.waitForURL((u) => u.host === edge.domain && u.pathname === '/device');
    await continueToApproval(page, prompt);
    await page.click('button:has-text("Approve")');
    await page.getByRole('heading', { name: 'Done: you can go back to your terminal' }).waitFor();

    const exit = await proc.waitExit(15_000);
    assert.equal(exit.code, 0, proc.output());
    const result = JSON.parse(nonEmpty(proc.stdoutLines)[0]!) as LoginJson;
    assert.equal(result.email, 'newbie@outside.test');
    assert.equal(result.publisher, false, 'an account made by a device login may not publish');

    assert.deepEqual(await newbie.json(['socket', 'ls', '--json']), [], 'it may use the API');
    const refused = await newbie.fails(['socket', 'create', '--name', 'mine', '--json']);
    assert.match(refused, /^error: newbie@outside\.test may reach sockets but not publish them/);
    assert.match(await newbie.fails(['connect', '--port', '1', '--json']), /may reach sockets but not publish them/);
    assert.deepEqual(await newbie.json(['socket', 'ls', '--json']), [], 'nothing was created');

    const { token } = JSON.parse(readFileSync(newbie.credentialsFile, 'utf8')) as { token: string };
    const res = await api(edge, token, 'POST', '/sockets', { name: 'mine' });
    assert.equal(res.status, 403);
    assert.equal((res.json as { error: { code: string } }).error.code, 'NOT_PUBLISHER');

    // The admin allows it: the same login may now publish.
    const promoted = await runCli(['admin', 'user', 'add', 'newbie@outside.test', '--db', db]);
    assert.equal(promoted.code, 0, promoted.stderr.join('\n'));
    const created = await newbie.json(['socket', 'create', '--name', 'mine', '--json']);
    assert.equal(created.name, 'mine');
  });
});
