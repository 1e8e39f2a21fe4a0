import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page, WebSocket } from 'playwright-core';
import { chromiumAvailable, launchChromium, screenshot } from './lib/browser.js';
import { request } from './lib/http.js';
import { CLI, EdgeProcess, REPO_ROOT, cleanEnv, createAccount, freePort, makeTempDir, parseJson, type ReadyEvent } from './lib/postern.js';
import { killAll, ManagedProcess } from './lib/process.js';
import { codeBlocks, commandLine, readmeSection } from './lib/readme.js';
import { pollUntil } from './lib/wait.js';

const PASSWORD = 'recipes password 9c2e';
const EMAIL = 'alice@mycorp.com';
const NODE_RED = join(REPO_ROOT, 'node_modules', 'node-red', 'red.js');
const GRAFANA_STAND_IN = join(REPO_ROOT, 'test', 'fixtures', 'grafana_auth_proxy.py');

/** Each recipe's app, from Debian (prometheus, jupyter-notebook) or npm (node-red); CI installs them all. */
const missing = [
  ['/usr/bin/chromium', chromiumAvailable()],
  ['/usr/bin/prometheus', existsSync('/usr/bin/prometheus')],
  ['/usr/bin/jupyter-notebook', existsSync('/usr/bin/jupyter-notebook')],
  ['node-red', existsSync(NODE_RED)],
]
  .filter(([, present]) => !present)
  .map(([what]) => what);
const skip = missing.length > 0 && !process.env.CI && `not installed: ${missing.join(', ')}`;

/** A README line with its documented ports swapped for free ones (`--port 9090`, `127.0.0.1:9090`). */
const withPort = (line: string, documented: number, port: number): string =>
  line.replace(new RegExp(`(--port |127\\.0\\.0\\.1:)${documented}\\b`, 'g'), `$1${port}`);

/**
 * The README's recipes, run as written: each app is started from its package by the recipe's own
 * command line (plus only what a test needs: a temp directory, free ports), served by the recipe's
 * `postern connect` line, and used through the edge in Chromium after a local-account sign-in.
 */
describe('recipes: real apps through the edge, set up as the README says', { skip }, () => {
  const tmp = makeTempDir('recipes');
  const db = join(tmp.dir, 'edge.db');
  const home = join(tmp.dir, 'home');
  let edge: EdgeProcess;
  let token: string;
  let browser: Browser;
  let context: BrowserContext;
  const apps: ManagedProcess[] = [];
  const urls: Record<string, string> = {};
  const ports: Record<string, number> = {};
  let jupyterToken = '';

  /** Runs one line in bash (`exec`, so the process is the app itself and gets our signals). */
  function runLine(label: string, line: string, env: NodeJS.ProcessEnv = {}): ManagedProcess {
    const proc = new ManagedProcess(label, 'bash', ['-c', `exec ${line}`], cleanEnv({ HOME: home, ...env } as Record<string, string>), tmp.dir);
    apps.push(proc);
    return proc;
  }

  /** The recipe's `postern connect` line, for the app on `port`; resolves with its public URL. */
  async function connect(section: string, documented: number, port: number): Promise<string> {
    const line = withPort(commandLine(section, 'postern connect '), documented, port).replace(/^postern /, `"${process.execPath}" "${CLI}" `);
    const proc = runLine(`connect:${documented}`, `${line} --json`, { POSTERN_EDGE: edge.url, POSTERN_TOKEN: token });
    const ready = await proc.waitForLine((l, stream) => stream === 'stdout' && parseJson<ReadyEvent>(l)?.event === 'ready', 20_000, 'the ready line');
    return parseJson<ReadyEvent>(ready)!.url;
  }

  async function startPrometheus(): Promise<void> {
    const section = readmeSection('Prometheus');
    const port = (ports.prometheus = await freePort());
    // The recipe's file, scraping every second instead of every 15 s so the test need not wait.
    const config = withPort(codeBlocks(section, 'yaml')[0]!, 9090, port).replace('scrape_interval: 15s', 'scrape_interval: 1s');
    writeFileSync(join(tmp.dir, 'prometheus.yml'), config);
    const proc = runLine('prometheus', `${withPort(commandLine(section, 'prometheus '), 9090, port)} --storage.tsdb.path ${join(tmp.dir, 'prometheus-data')}`);
    await proc.waitForLine((l) => /Server is ready to receive web requests/.test(l), 30_000, 'prometheus to be ready');
    urls.prometheus = await connect(section, 9090, port);
  }

  async function startJupyter(): Promise<void> {
    const section = readmeSection('Jupyter');
    const port = (ports.jupyter = await freePort());
    writeFileSync(
      join(tmp.dir, 'answer.ipynb'),
      JSON.stringify({
        cells: [{ cell_type: 'code', execution_count: null, metadata: {}, outputs: [], source: ['print(6 * 7)'] }],
        metadata: { kernelspec: { display_name: 'Python 3', language: 'python', name: 'python3' } },
        nbformat: 4,
        nbformat_minor: 5,
      }),
    );
    // CI runs as root, which Jupyter refuses unless told.
    const asRoot = process.getuid?.() === 0 ? ' --allow-root' : '';
    const proc = runLine('jupyter', `${withPort(commandLine(section, 'jupyter notebook '), 8888, port)}${asRoot}`, { JUPYTER_RUNTIME_DIR: join(tmp.dir, 'jupyter-runtime') });
    const line = await proc.waitForLine((l) => /http:\/\/127\.0\.0\.1:\d+\/\?token=[0-9a-f]+/.test(l), 30_000, 'jupyter to print its URL');
    jupyterToken = /token=([0-9a-f]+)/.exec(line)![1]!;
    urls.jupyter = await connect(section, 8888, port);
  }

  async function startNodeRed(): Promise<void> {
    const section = readmeSection('Node-RED');
    const port = (ports.nodeRed = await freePort());
    const userDir = join(tmp.dir, 'node-red');
    mkdirSync(userDir, { recursive: true });
    // A flow that sends a debug message every second: the editor receives each over its WebSocket.
    writeFileSync(
      join(userDir, 'flows.json'),
      JSON.stringify([
        { id: 'f1', type: 'tab', label: 'Recipe' },
        { id: 'i1', type: 'inject', z: 'f1', name: 'tick', props: [{ p: 'payload' }], repeat: '1', once: true, onceDelay: '0.1', topic: '', payload: 'hello through postern', payloadType: 'str', x: 120, y: 80, wires: [['d1']] },
        { id: 'd1', type: 'debug', z: 'f1', name: 'out', active: true, tosidebar: true, console: false, tostatus: false, complete: 'payload', targetType: 'msg', x: 320, y: 80, wires: [] },
      ]),
    );
    const line = withPort(commandLine(section, 'npx node-red '), 1880, port).replace(/^npx node-red /, `"${process.execPath}" "${NODE_RED}" `);
    const proc = runLine('node-red', `${line} --userDir ${userDir}`);
    await proc.waitForLine((l) => /Started flows/.test(l), 30_000, 'node-red to start its flows');
    urls.nodeRed = await connect(section, 1880, port);
  }

  async function startGrafanaStandIn(): Promise<void> {
    const section = readmeSection('Grafana');
    const port = (ports.grafana = await freePort());
    writeFileSync(join(tmp.dir, 'grafana.ini'), codeBlocks(section, 'ini')[0]!);
    // Started beside Jupyter, Node-RED, Prometheus and Chromium on 2 cores: its start can take a while.
    const proc = runLine('grafana stand-in', `python3 "${GRAFANA_STAND_IN}" --config grafana.ini --port ${port}`);
    await proc.waitForLine((l) => /^listening on 127\.0\.0\.1:/.test(l), 30_000, 'the stand-in to listen');
    urls.grafana = await connect(section, 3000, port);
  }

  before(async () => {
    mkdirSync(home, { recursive: true });
    token = await createAccount(db, EMAIL, PASSWORD);
    edge = await EdgeProcess.start({ db, extraArgs: ['--local-accounts'] });
    // Each app starts once, all at the same time (Jupyter and Node-RED take a few seconds each).
    await Promise.all([startPrometheus(), startJupyter(), startNodeRed(), startGrafanaStandIn(), (async () => (browser = await launchChromium()))()]);
    context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    context.setDefaultTimeout(15_000);
    context.setDefaultNavigationTimeout(15_000);
    // One sign-in on the edge; each app's host then gets its own session by the edge's hand-off.
    const page = await context.newPage();
    await page.goto(`${edge.url}/auth/login?rd=/`);
    await page.waitForURL((u) => u.pathname === '/auth/start/local');
    await page.fill('#email', EMAIL);
    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForURL(`${edge.url}/`), page.click('button[type="submit"]')]);
    await page.close();
  });

  after(async () => {
    await context?.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    // SIGTERM first: Jupyter shuts its kernels down, Prometheus closes its database.
    await Promise.all(apps.map((proc) => proc.stop('SIGTERM', 10_000).catch(() => undefined)));
    await killAll();
    tmp.remove();
  });

  /** A page that records what each WebSocket of the app carries. */
  async function pageWithSockets(): Promise<{ page: Page; sockets: { url: string; sent: string[]; received: string[] }[] }> {
    const page = await context.newPage();
    const sockets: { url: string; sent: string[]; received: string[] }[] = [];
    page.on('websocket', (ws: WebSocket) => {
      const entry = { url: ws.url(), sent: [] as string[], received: [] as string[] };
      sockets.push(entry);
      ws.on('framesent', (frame) => entry.sent.push(String(frame.payload)));
      ws.on('framereceived', (frame) => entry.received.push(String(frame.payload)));
    });
    return { page, sockets };
  }

  it('Prometheus: a query typed in its UI returns data; a script gets the same with a token', async () => {
    const host = new URL(urls.prometheus!).host;
    // The recipe's curl line: a bearer token instead of a browser session.
    const curl = commandLine(readmeSection('Prometheus'), 'curl ');
    const path = /https:\/\/[^/]+(\/api\/v1\/query\?query=up)/.exec(curl)![1]!;
    const series = await pollUntil(
      async () => {
        const res = await request({ port: edge.port, host, path, headers: { authorization: `Bearer ${token}` } });
        assert.equal(res.status, 200, res.body.toString('utf8'));
        const result = (JSON.parse(res.body.toString('utf8')) as { data: { result: { metric: Record<string, string>; value: [number, string] }[] } }).data.result;
        return result.length > 0 ? result : undefined;
      },
      { timeoutMs: 20_000, intervalMs: 250, what: 'Prometheus to have scraped itself' },
    );
    assert.deepEqual(series[0]!.metric, { __name__: 'up', instance: `127.0.0.1:${ports.prometheus}`, job: 'prometheus' });
    assert.equal(series[0]!.value[1], '1');

    const page = await context.newPage();
    await page.goto(`${urls.prometheus}/classic/graph`);
    await page.locator('textarea').first().fill('up');
    await page.getByRole('button', { name: 'Execute' }).click();
    const row = page.locator('table.console_table tbody tr').first();
    await row.waitFor();
    assert.deepEqual(await row.locator('td').allTextContents(), [`up{instance="127.0.0.1:${ports.prometheus}",job="prometheus"}`, '1']);
    console.log(`screenshot: ${await screenshot(page, 'recipe-prometheus')}`);
    await page.close();
  });

  it("Jupyter: a notebook's cell runs on its kernel over the kernel WebSocket and shows the answer", async () => {
    const { page, sockets } = await pageWithSockets();
    const res = await page.goto(`${urls.jupyter}/notebooks/answer.ipynb?token=${jupyterToken}`);
    assert.equal(res?.status(), 200);
    await page.locator('#kernel_indicator_icon.kernel_idle_icon').waitFor({ timeout: 30_000 });
    await page.locator('.cell .input_area').first().click();
    await page.keyboard.press('Shift+Enter');
    const output = page.locator('.output_area pre').first();
    await output.waitFor({ timeout: 20_000 });
    assert.equal((await output.textContent())?.trim(), '42');
    const channel = sockets.find((ws) => new URL(ws.url).pathname.endsWith('/channels'));
    assert.ok(channel, `a kernel channel WebSocket was opened: ${sockets.map((ws) => ws.url).join(', ')}`);
    assert.equal(new URL(channel.url).host, new URL(urls.jupyter!).host, 'through the public name');
    assert.ok(channel.sent.some((frame) => frame.includes('execute_request') && frame.includes('print(6 * 7)')), 'the cell went out over it');
    assert.ok(channel.received.some((frame) => frame.includes('"name": "stdout"') || frame.includes('"name":"stdout"')), 'and its output came back over it');
    console.log(`screenshot: ${await screenshot(page, 'recipe-jupyter')}`);
    await page.close();
  });

  it("Node-RED: the editor loads the flow and its /comms WebSocket carries the flow's debug messages", async () => {
    const { page, sockets } = await pageWithSockets();
    await page.goto(urls.nodeRed!);
    await page.locator('#red-ui-workspace').waitFor({ timeout: 30_000 });
    const comms = await pollUntil(async () => sockets.find((ws) => new URL(ws.url).pathname === '/comms' && ws.received.filter((f) => f.includes('hello through postern')).length >= 2), {
      timeoutMs: 20_000,
      intervalMs: 200,
      what: 'two debug messages over the editor WebSocket',
    });
    assert.ok(comms.sent.some((frame) => frame.includes('"subscribe"')), 'the editor subscribed over the same WebSocket');
    await page.locator('#red-ui-workspace .red-ui-flow-node-label', { hasText: 'tick' }).first().waitFor(); // the flow is drawn
    // The debug sidebar lists what arrived (opened with the editor's own call: a fresh Node-RED puts
    // its welcome tour and an update-notification question over the page first).
    await page.evaluate(`RED.sidebar.show('debug')`);
    await page.locator('.red-ui-debug-msg', { hasText: 'hello through postern' }).first().waitFor();
    console.log(`screenshot: ${await screenshot(page, 'recipe-node-red')}`);
    await page.close();
  });

  it('Grafana auth.proxy (stand-in): the app signs in the person the edge names, whatever the browser claims', async () => {
    const page = await context.newPage();
    // A browser that claims to be someone else: the edge removes these before the app sees them.
    await page.setExtraHTTPHeaders({ 'X-Auth-Email': 'admin@mycorp.com', 'X-Auth-User': 'admin' });
    const res = await page.goto(`${urls.grafana}/api/user`);
    assert.equal(res?.status(), 200);
    const user = JSON.parse((await page.textContent('body')) ?? '') as { email: string; login: string; name: string; users: number };
    assert.equal(user.email, EMAIL, 'header_property = email: signed in by the verified email');
    assert.equal(user.login, EMAIL);
    assert.equal(user.name, EMAIL, 'headers = Name:X-Auth-User (a local account has no display name, so the email)');
    assert.equal(user.users, 1, 'no "admin" account was signed up');
    await page.goto(urls.grafana!);
    assert.equal(await page.textContent('h1'), `Welcome ${EMAIL}`);
    console.log(`screenshot: ${await screenshot(page, 'recipe-grafana-stand-in')}`);
    await page.close();
  });
});
