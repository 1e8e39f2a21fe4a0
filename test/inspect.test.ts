import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { chromiumAvailable, launchChromium, screenshot } from './lib/browser.js';
import { request } from './lib/http.js';
import { api, CLI, ConnectorProcess, EdgeProcess, cleanEnv, createAccount, freePort, makeTempDir, parseJson, runCli, type ConnectEvent, type ReadyEvent } from './lib/postern.js';
import { killAll, ManagedProcess } from './lib/process.js';
import { runStdio } from './lib/tcp.js';
import { pollUntil } from './lib/wait.js';

const EMAIL = 'alice@mycorp.com';
const skip = !chromiumAvailable() && !process.env.CI && 'chromium is not installed';

/** Python's http.server on a free loopback port, serving `dir`; waits until it accepts requests. */
async function startPythonServer(dir: string): Promise<{ proc: ManagedProcess; port: number }> {
  const port = await freePort();
  const proc = new ManagedProcess(`python:${port}`, 'python3', ['-u', '-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', dir], cleanEnv());
  await proc.waitForLine((line) => line.includes('Serving HTTP'), 15_000, 'python http.server to listen');
  return { proc, port };
}

/** Requests python logged for `path` (its access log on stderr): what really reached the app. */
const hits = (proc: ManagedProcess, path: string): number => proc.stderrLines.filter((l) => l.includes(`"GET ${path} HTTP/1.1"`)).length;

/**
 * Waits until python logged `count` requests for `path`, then checks it logged no more: its log
 * line can reach us after its answer did. Lines come in order, so a request that should not have
 * reached the app, sent before the last one that should, would show as one too many.
 */
async function expectHits(proc: ManagedProcess, path: string, count: number): Promise<void> {
  await pollUntil(async () => (hits(proc, path) >= count ? true : undefined), { timeoutMs: 5_000, intervalMs: 20, what: () => `${count} requests for ${path} in python's log` });
  assert.equal(hits(proc, path), count);
}

describe('request inspector: postern connect --inspect', { skip }, () => {
  const tmp = makeTempDir('inspect');
  const site = join(tmp.dir, 'site');
  let edge: EdgeProcess;
  let token: string;
  let app: { proc: ManagedProcess; port: number };
  let connector: ConnectorProcess;
  let inspectUrl: string;
  let browser: Browser;
  let page: Page;
  let attacker: Server;
  let attackerPort: number;

  before(async () => {
    mkdirSync(site);
    writeFileSync(join(site, 'hello.txt'), 'version one\n');
    writeFileSync(join(site, 'data.json'), '{"items":[1,2],"name":"<img src=x onerror=alert(1)>"}');
    edge = await EdgeProcess.start({ db: join(tmp.dir, 'edge.db') });
    token = await createAccount(edge.db, EMAIL);
    app = await startPythonServer(site);
    connector = await ConnectorProcess.start({
      edge,
      token,
      appPort: app.port,
      args: ['--name', 'inspected', '--cloudauth', '--allowed-email-domains', 'mycorp.com', '--inspect', `127.0.0.1:${await freePort()}`],
    });
    inspectUrl = String(connector.ready!['inspect_url']);
    browser = await launchChromium();
    page = await browser.newPage();
    // Another local page: it knows the inspector's address but not its token.
    attacker = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/html' });
      res.end('<!doctype html><title>evil</title><p>evil</p>');
    });
    attackerPort = await freePort();
    await new Promise<void>((resolve) => attacker.listen(attackerPort, '127.0.0.1', resolve));
  });

  after(async () => {
    await browser?.close();
    attacker?.close();
    await connector?.stop();
    await killAll();
    tmp.remove();
  });

  /** A signed-in request through the edge, with a cookie of the app's. */
  const viaEdge = (path: string) =>
    request({ port: edge.port, host: connector.publicHost, path, headers: { authorization: `Bearer ${token}`, cookie: 'theme=dark; app_session=s3cr3t-cookie' } });

  it('shows each request live, with identity headers, cookies and the assertion masked, and bodies as text or pretty JSON', async () => {
    assert.match(inspectUrl, /^http:\/\/127\.0\.0\.1:\d+\/$/);
    await page.goto(inspectUrl);
    await page.locator('#live.up').waitFor({ timeout: 10_000 });
    const hello = await viaEdge('/hello.txt');
    assert.equal(hello.status, 200);
    assert.equal(hello.body.toString(), 'version one\n');
    assert.equal((await viaEdge('/data.json')).status, 200);

    // Both lines arrive over server-sent events, newest first, with the signed-in user.
    const rows = page.locator('#rows tr');
    await pollUntil(async () => ((await rows.count()) === 2 ? true : undefined), { timeoutMs: 10_000, intervalMs: 100, what: 'two rows' });
    assert.deepEqual(await rows.nth(1).locator('td').allInnerTexts().then((cells) => cells.slice(1, 6)), ['inspected', EMAIL, 'GET', '/hello.txt', '200']);

    await rows.nth(1).click();
    const detail = page.locator('#detail');
    await detail.locator('h2', { hasText: 'GET /hello.txt' }).waitFor({ timeout: 5_000 });
    const text = await detail.innerText();
    const requestHeaders = await detail.locator('.message').first().locator('table.headers tr').evaluateAll((trs) =>
      trs.map((tr) => ({ name: tr.children[0]!.textContent!.toLowerCase(), value: tr.children[1]!.textContent!, masked: tr.children[1]!.className === 'masked' })),
    );
    for (const name of ['x-auth-email', 'x-auth-user', 'x-postern-assertion', 'cookie']) {
      const shown = requestHeaders.find((h) => h.name === name);
      assert.ok(shown, `${name} is listed`);
      assert.ok(shown.masked, `${name} is masked`);
      assert.match(shown.value, /^•••• masked \(\d+ characters\)$/);
    }
    const requestId = requestHeaders.find((h) => h.name === 'x-request-id');
    assert.ok(requestId && !requestId.masked && requestId.value.length > 0, 'other headers are shown as they are');
    assert.ok(!text.includes('s3cr3t-cookie'), 'the cookie value is not on the page');
    assert.ok(!/eyJ[\w-]+\.[\w-]+\./.test(text), 'no JWT on the page');
    assert.ok(text.includes('version one'), 'the text body is shown');

    // JSON pretty-printed, and what the app sent is text on the page, never markup.
    await rows.nth(0).click();
    await detail.locator('h2', { hasText: 'GET /data.json' }).waitFor({ timeout: 5_000 });
    const body = detail.locator('.original pre.body');
    await body.waitFor({ timeout: 5_000 });
    assert.equal(await body.innerText(), JSON.stringify({ items: [1, 2], name: '<img src=x onerror=alert(1)>' }, null, 2));
    assert.equal(await page.locator('#detail img').count(), 0);

    // Filters: by path and status.
    await page.fill('input[name=path]', 'json');
    await pollUntil(async () => ((await rows.count()) === 1 ? true : undefined), { timeoutMs: 5_000, intervalMs: 50, what: 'the path filter' });
    await page.fill('input[name=path]', '');
    await page.fill('input[name=status]', '4xx');
    await pollUntil(async () => ((await rows.count()) === 0 ? true : undefined), { timeoutMs: 5_000, intervalMs: 50, what: 'the status filter' });
    await page.fill('input[name=status]', '');
    await screenshot(page, 'inspector');
  });

  it('replays a captured request to the local app (not through the edge) and shows the new answer beside the old one', async () => {
    const rows = page.locator('#rows tr');
    await rows.nth(1).click();
    await page.locator('#detail h2', { hasText: 'GET /hello.txt' }).waitFor({ timeout: 5_000 });
    writeFileSync(join(site, 'hello.txt'), 'version two\n');
    const before = hits(app.proc, '/hello.txt');
    await page.click('#replay');
    const replayed = page.locator('#compare .replayed pre.body');
    await replayed.waitFor({ timeout: 10_000 });
    assert.equal(await replayed.innerText(), 'version two\n');
    assert.equal(await page.locator('#compare .original pre.body').innerText(), 'version one\n');
    await expectHits(app.proc, '/hello.txt', before + 1); // the app got the replay, once
    // The edge never saw it: a replay is not a request through the tunnel, so no new line in the list.
    assert.equal(await rows.count(), 2);
    await screenshot(page, 'inspector-replay');
  });

  it('refuses a non-loopback --inspect address in one readable line', async () => {
    const res = await runCli(['connect', '--port', String(app.port), '--inspect', '0.0.0.0:4040'], { POSTERN_EDGE: edge.url, POSTERN_TOKEN: token });
    assert.notEqual(res.code, 0);
    const lines = res.stderr.filter((l) => l.trim() !== '');
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0]!, /--inspect .*loopback only .*"0\.0\.0\.0"/);
  });

  it('refuses replays and reads from other pages: cross-site fetch, a leaked token from another Origin, a rebinding Host', async () => {
    const before = hits(app.proc, '/hello.txt');
    const replayUrl = new URL('/api/exchanges/1/replay', inspectUrl);
    const evil = await browser.newPage();
    await evil.goto(`http://evil.localhost:${attackerPort}/`);
    const outcome = await evil.evaluate(async (url) => {
      const results: string[] = [];
      // A simple (no-preflight) cross-site POST reaches the server: it must be refused there (its
      // answer is then withheld from the page by Cross-Origin-Resource-Policy, so the fetch fails).
      await fetch(url, { method: 'POST', mode: 'no-cors' }).then(() => results.push('settled'), () => results.push('settled'));
      // With a token header the browser preflights, which the inspector never grants.
      await fetch(url, { method: 'POST', headers: { 'x-inspector-token': 'guessed' } }).then((r) => results.push(`read ${r.status}`), () => results.push('blocked'));
      await fetch(url.replace(/\/1\/replay$/, ''), {}).then((r) => results.push(`read ${r.status}`), () => results.push('blocked'));
      return results;
    }, replayUrl.href);
    assert.deepEqual(outcome, ['settled', 'blocked', 'blocked']);
    await evil.close();

    const pageToken = await page.locator('meta[name="inspector-token"]').getAttribute('content');
    assert.ok(pageToken && pageToken.length >= 32);
    const port = Number(replayUrl.port);
    const post = (headers: Record<string, string>) => request({ port, host: `127.0.0.1:${port}`, method: 'POST', path: replayUrl.pathname, headers });
    assert.equal((await post({ origin: `http://127.0.0.1:${port}` })).status, 403, 'no token');
    assert.equal((await post({ 'x-inspector-token': pageToken, origin: `http://evil.localhost:${attackerPort}` })).status, 403, 'token from another origin');
    assert.equal((await post({ 'x-inspector-token': pageToken })).status, 403, 'token without an Origin');
    const rebound = await request({ port, host: `evil.example:${port}`, path: '/api/exchanges', headers: { 'x-inspector-token': pageToken } });
    assert.equal(rebound.status, 421, 'a DNS-rebinding Host');
    // The page itself may replay: same Origin, token from the page; it is the only request the app got.
    const ok = await post({ 'x-inspector-token': pageToken, origin: `http://127.0.0.1:${port}` });
    assert.equal(ok.status, 200);
    await expectHits(app.proc, '/hello.txt', before + 1);
  });
});

describe('one connector, several apps: postern connect --config postern.yaml', () => {
  const tmp = makeTempDir('connect-config');
  const site = join(tmp.dir, 'site');
  const file = join(tmp.dir, 'postern.yaml');
  let edge: EdgeProcess;
  let token: string;
  let web: { proc: ManagedProcess; port: number };
  let files: { proc: ManagedProcess; port: number };

  before(async () => {
    mkdirSync(site);
    writeFileSync(join(site, 'hello.txt'), 'served by python\n');
    edge = await EdgeProcess.start({ db: join(tmp.dir, 'edge.db') });
    token = await createAccount(edge.db, EMAIL);
    [web, files] = await Promise.all([startPythonServer(site), startPythonServer(site)]);
    writeFileSync(
      file,
      [
        'sockets:',
        '  - name: web',
        `    to: http://127.0.0.1:${web.port}`,
        '    rewrite_host: true',
        '    allowed_email_domains: [mycorp.com]',
        '    rules:',
        '      - {paths: [/hello.txt], action: public}',
        '  - name: files',
        `    to: tcp://127.0.0.1:${files.port}`,
        `    allowed_email_addresses: [${EMAIL}]`,
        '',
      ].join('\n'),
    );
  });

  after(async () => {
    await killAll();
    tmp.remove();
  });

  const env = () => cleanEnv({ POSTERN_EDGE: edge.url, POSTERN_TOKEN: token, ...edge.clientEnv });

  /** `connect --config FILE --json` until both sockets printed their ready line. */
  async function serveFile(extra: readonly string[] = []): Promise<{ proc: ManagedProcess; ready: Map<string, ReadyEvent> }> {
    const proc = new ManagedProcess('connect --config', process.execPath, [CLI, 'connect', '--config', file, '--json', ...extra], env());
    const ready = new Map<string, ReadyEvent>();
    await proc.waitForLine(
      (line) => {
        const event = parseJson<ConnectEvent>(line);
        if (event?.event === 'ready') ready.set(String(event['socket']), event as ReadyEvent);
        return ready.size === 2;
      },
      20_000,
      'a ready line for each socket',
    );
    return { proc, ready };
  }

  /** What the edge holds for the account: its sockets (with their policies) and tunnels. */
  const edgeState = async () => ({
    sockets: ((await api(edge, token, 'GET', '/sockets')).json as Record<string, unknown>[]).map(({ id, name, protocol, rules, default: fallback, updated_at }) => ({ id, name, protocol, rules, fallback, updated_at })),
    tunnels: ((await api(edge, token, 'GET', '/tunnels')).json as Record<string, unknown>[]).map(({ id, socket_id, name, ephemeral }) => ({ id, socket_id, name, ephemeral })),
  });

  it('creates both sockets and their tunnels, serves an HTTP and a TCP app from one process, one view naming each socket', async () => {
    const { proc, ready } = await serveFile(['--inspect', '127.0.0.1:0']);
    const webReady = ready.get('web')!;
    const filesReady = ready.get('files')!;
    assert.equal(webReady['socket_change'], 'created');
    assert.equal(webReady['tunnel_change'], 'created');
    assert.equal(filesReady['protocol'], 'tcp');

    // HTTP, through the edge: the public rule of the file lets an anonymous request through; the Host is rewritten.
    const hello = await request({ port: edge.port, host: new URL(webReady.url).host, path: '/hello.txt' });
    assert.equal(hello.status, 200);
    assert.equal(hello.body.toString(), 'served by python\n');
    const other = await request({ port: edge.port, host: new URL(webReady.url).host, path: '/' });
    assert.notEqual(other.status, 200, 'the rest of the socket needs sign-in');
    // TCP, through `postern tcp`: raw bytes to the second python server.
    const tcp = await runStdio(['--socket', filesReady.hostname], { POSTERN_EDGE: edge.url, POSTERN_TOKEN: token }, Buffer.from('GET /hello.txt HTTP/1.0\r\n\r\n'));
    assert.equal(tcp.code, 0, tcp.stderr);
    assert.match(tcp.stdout.toString(), /^HTTP\/1\.0 200 [\s\S]*served by python\n$/);
    await proc.waitForLine((line) => parseJson<ConnectEvent>(line)?.event === 'request' && parseJson<ConnectEvent>(line)?.['socket'] === 'web', 10_000, 'the request line of web');
    await expectHits(web.proc, '/hello.txt', 1);
    // One inspector for the file's HTTP sockets: it shows what the app got, a Host of its own (rewrite_host: true).
    const inspector = new URL(String(webReady['inspect_url']));
    const authority = `127.0.0.1:${inspector.port}`;
    const page = await request({ port: Number(inspector.port), host: authority, path: '/' });
    const pageToken = /name="inspector-token" content="([^"]+)"/.exec(page.body.toString())![1]!;
    const list = await request({ port: Number(inspector.port), host: authority, path: '/api/exchanges', headers: { 'x-inspector-token': pageToken } });
    const seen = (JSON.parse(list.body.toString()) as { exchanges: { id: number; socket: string; path: string }[] }).exchanges.find((x) => x.path === '/hello.txt');
    assert.equal(seen?.socket, 'web');
    const one = await request({ port: Number(inspector.port), host: authority, path: `/api/exchanges/${seen.id}`, headers: { 'x-inspector-token': pageToken } });
    const headers = (JSON.parse(one.body.toString()) as { request: { headers: { name: string; value: string }[] } }).request.headers;
    assert.equal(headers.find((h) => h.name.toLowerCase() === 'host')?.value, `127.0.0.1:${web.port}`);

    const state = await edgeState();
    assert.deepEqual(state.sockets.map((s) => s.name).sort(), ['files', 'web']);
    assert.equal(state.tunnels.filter((t) => t.name === 'connect --config' && !t.ephemeral).length, 2);
    const stopped = await proc.stop('SIGTERM', 15_000);
    assert.equal(stopped.code, 0, proc.output());
  });

  it('a second run changes nothing on the edge and serves the same sockets through the same tunnels', async () => {
    const before = await edgeState();
    const { proc, ready } = await serveFile();
    for (const name of ['web', 'files']) {
      assert.equal(ready.get(name)!['socket_change'], 'unchanged', name);
      assert.equal(ready.get(name)!['tunnel_change'], 'reused', name);
    }
    assert.deepEqual(await edgeState(), before);
    await proc.stop('SIGTERM', 15_000);
  });

  it('refuses an unknown key and a bad value with the file, line and key, in one line', async () => {
    const bad = join(tmp.dir, 'bad.yaml');
    writeFileSync(bad, `sockets:\n  - name: web\n    to: http://127.0.0.1:${web.port}\n    rewrite_hots: true\n`);
    const res = await runCli(['connect', '--config', bad], { POSTERN_EDGE: edge.url, POSTERN_TOKEN: token });
    assert.notEqual(res.code, 0);
    const lines = res.stderr.filter((l) => l.trim() !== '');
    assert.equal(lines.length, 1, lines.join('\n'));
    assert.match(lines[0]!, new RegExp(`${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:4:5: sockets\\[0\\]\\.rewrite_hots`));
    writeFileSync(bad, `sockets:\n  - name: web\n    to: ftp://127.0.0.1:21\n`);
    const value = await runCli(['connect', '--config', bad], { POSTERN_EDGE: edge.url, POSTERN_TOKEN: token });
    assert.match(value.stderr.join('\n'), /bad\.yaml:3:5: sockets\[0\]\.to: /);
    writeFileSync(bad, `sockets:\n  - name: web\n    cloudauth: true\n`);
    const missing = await runCli(['connect', '--config', bad], { POSTERN_EDGE: edge.url, POSTERN_TOKEN: token });
    assert.match(missing.stderr.join('\n'), /bad\.yaml:2:5: sockets\[0\]\.to: connect --config needs the local target of "web"/);
    const mixed = await runCli(['connect', '--config', file, '--port', '3000'], { POSTERN_EDGE: edge.url, POSTERN_TOKEN: token });
    assert.match(mixed.stderr.join('\n'), /--config describes the sockets in the file: drop --port/);
  });
});
