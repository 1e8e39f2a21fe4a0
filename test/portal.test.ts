import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { chromiumAvailable, continueIfAsked, launchChromium, screenshot } from './lib/browser.js';
import { request } from './lib/http.js';
import { IdentityApp } from './lib/identity-app.js';
import { ConnectorProcess, EdgeProcess, api, createAccount, createSocket, makeTempDir, runCli, type SocketView } from './lib/postern.js';
import { killAll } from './lib/process.js';

const PASSWORD = 'portal test password 7f3a';

interface PortalApp {
  name: string;
  hostname: string;
  url: string;
  protocol: string;
  online: boolean;
  yours: boolean;
  [key: string]: unknown;
}

interface PortalTunnel {
  id: string;
  name: string;
  status: string;
  last_connected_at: string | null;
}

interface PortalSocket {
  id: string;
  hostname: string;
  online: boolean;
  ephemeral: boolean;
  access: { kind: string; [key: string]: unknown };
  tunnels: PortalTunnel[];
}

interface PortalJson {
  user: { email: string | null } | null;
  apps: PortalApp[];
  sockets: PortalSocket[];
}

/**
 * The edge's home page in real Chromium, signed in with local accounts: each person sees the apps
 * their policy lets them open (never other accounts' public sockets), the owner sees their sockets,
 * rules and tunnels; the JSON variant carries the same data.
 */
describe('portal: the apps a person may open, and their own sockets', { skip: !chromiumAvailable() && 'no /usr/bin/chromium' }, () => {
  const tmp = makeTempDir('portal');
  let edge: EdgeProcess;
  let browser: Browser;
  let app: IdentityApp;
  /** Alice's: sign-in, anyone @corp.test, served by a connector on tunnel "office" (online). */
  let wiki: SocketView;
  /** Alice's: sign-in, no rule (only alice), a tunnel that never connected (offline). */
  let grafana: SocketView;
  /** Alice's: TCP, anyone @corp.test, offline. */
  let postgres: SocketView;
  /** Alice's quick share: public and ephemeral (online). */
  let demo: ConnectorProcess;
  /** Another account's public socket (online): unlisted for everyone else. */
  let status: SocketView;
  /** Another account's sign-in socket for bob alone (offline). */
  let tickets: SocketView;
  let officeTunnel: string;
  let stagingTunnel: string;
  const contexts: BrowserContext[] = [];

  before(async () => {
    const db = `${tmp.dir}/edge.db`;
    const alice = await createAccount(db, 'alice@corp.test');
    const dave = await createAccount(db, 'dave@vendor.test');
    const pwFile = `${tmp.dir}/password`;
    writeFileSync(pwFile, `${PASSWORD}\n`, { mode: 0o600 });
    for (const email of ['alice@corp.test', 'bob@corp.test', 'carol@other.test']) {
      const added = await runCli(['admin', 'user', 'add', email, '--db', db, '--password-file', pwFile]);
      assert.equal(added.code, 0, added.stderr.join('\n'));
    }
    edge = await EdgeProcess.start({ db, extraArgs: ['--local-accounts'] });
    app = await IdentityApp.start('portal app');

    const create = async (token: string, body: Record<string, unknown>): Promise<SocketView> => {
      const res = await api(edge, token, 'POST', '/sockets', body);
      assert.equal(res.status, 201, JSON.stringify(res.json));
      return res.json as SocketView;
    };
    const tunnel = async (socket: SocketView, name: string): Promise<string> => {
      const res = await api(edge, alice, 'POST', '/tunnels', { socket_id: socket.id, name });
      assert.equal(res.status, 201, JSON.stringify(res.json));
      return (res.json as { id: string }).id;
    };
    wiki = await create(alice, { name: 'wiki', allowed_email_domains: ['corp.test'] });
    grafana = await create(alice, { name: 'grafana', cloudauth: true });
    postgres = await create(alice, { name: 'postgres', protocol: 'tcp', allowed_email_domains: ['corp.test'] });
    officeTunnel = await tunnel(wiki, 'office');
    stagingTunnel = await tunnel(grafana, 'staging');
    status = await createSocket(edge, dave, 'statuspage');
    tickets = await create(dave, { name: 'tickets', allowed_email_addresses: ['bob@corp.test'] });

    await ConnectorProcess.start({ edge, token: alice, appPort: app.port, label: 'connect:wiki', args: ['--socket', wiki.id, '--tunnel', officeTunnel] });
    await ConnectorProcess.start({ edge, token: dave, appPort: app.port, label: 'connect:status', args: ['--socket', status.id] });
    demo = await ConnectorProcess.start({ edge, token: alice, appPort: app.port, label: 'connect:demo', args: ['--name', 'demo'] });
    browser = await launchChromium();
  });

  after(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await killAll();
    await app?.close();
    tmp.remove();
  });

  async function newPage(): Promise<{ context: BrowserContext; page: Page }> {
    const context = await browser.newContext({ viewport: { width: 1100, height: 800 } });
    context.setDefaultTimeout(10_000);
    context.setDefaultNavigationTimeout(10_000);
    contexts.push(context);
    return { context, page: await context.newPage() };
  }

  /** From the signed-out home page through the local sign-in form back to the portal. */
  async function signIn(page: Page, email: string): Promise<void> {
    await page.goto(`${edge.url}/`);
    await page.getByRole('link', { name: 'Sign in', exact: true }).click();
    await page.waitForURL((u) => u.pathname === '/auth/start/local');
    await page.fill('#email', email);
    await page.fill('#password', PASSWORD);
    await Promise.all([page.waitForURL(`${edge.url}/`), page.click('button[type="submit"]')]);
    assert.equal((await page.textContent('#who'))?.trim(), email);
  }

  /** The portal as JSON, with the browser's own cookies. */
  async function portalJson(context: BrowserContext): Promise<PortalJson> {
    const res = await context.request.get(`${edge.url}/`, { headers: { accept: 'application/json' } });
    assert.equal(res.status(), 200);
    assert.equal(res.headers()['cache-control'], 'no-store', 'per person: never cached');
    return (await res.json()) as PortalJson;
  }

  const appHosts = (page: Page) => page.locator('#apps .app').evaluateAll((els) => els.map((el) => el.getAttribute('data-host')));
  const hostOf = (socket: SocketView) => socket.hostname;

  it('signed out: explains the edge and offers sign-in; the JSON variant names no one', async () => {
    const { page } = await newPage();
    const res = await page.goto(`${edge.url}/`);
    assert.equal(res?.status(), 200);
    assert.equal(res?.headers()['cache-control'], 'no-store');
    const text = (await page.textContent('main')) ?? '';
    assert.match(text, /publishes private apps/);
    assert.equal(await page.getByRole('link', { name: 'Sign in', exact: true }).getAttribute('href'), '/auth/login?rd=/');
    console.log(`screenshot: ${await screenshot(page, 'portal-signed-out')}`);

    const json = await request({ port: edge.port, host: edge.domain, path: '/', headers: { accept: 'application/json' } });
    assert.equal(json.status, 200);
    assert.equal(json.headers['cache-control'], 'no-store');
    assert.deepEqual(JSON.parse(json.body.toString('utf8')), { edge: edge.domain, user: null, apps: [], sockets: [], sign_in: '/auth/login?rd=/' });
  });

  it("a member of corp.test sees alice's corp.test apps and the one shared with him, not public or owner-only sockets", async () => {
    const { context, page } = await newPage();
    await signIn(page, 'bob@corp.test');
    const hosts = await appHosts(page);
    assert.deepEqual([...hosts].sort(), [hostOf(postgres), hostOf(tickets), hostOf(wiki)].sort(), 'exactly the sign-in sockets whose rules let bob in');
    assert.ok(!hosts.includes(hostOf(status)), "another account's public socket is unlisted");
    assert.ok(!hosts.includes(demo.ready!.hostname), "alice's public quick share is unlisted for bob");
    assert.ok(!hosts.includes(hostOf(grafana)), 'an owner-only socket is not listed');

    const tile = (socket: SocketView) => page.locator(`#apps .app[data-host="${hostOf(socket)}"]`);
    assert.match((await tile(wiki).textContent()) ?? '', /wiki[\s\S]*Online/);
    assert.equal(await tile(wiki).locator('a.tile-name').getAttribute('href'), wiki.url);
    assert.match((await tile(tickets).textContent()) ?? '', /tickets[\s\S]*Offline/);
    const tcp = (await tile(postgres).textContent()) ?? '';
    assert.ok(tcp.includes(`postern tcp --socket ${hostOf(postgres)} --listen 127.0.0.1:<port>`), `the TCP tile shows the postern tcp command: ${tcp}`);
    assert.equal(await tile(postgres).locator('a').count(), 0, 'a TCP socket is not a link');
    assert.equal(await page.locator('#sockets .socket').count(), 0);
    assert.ok(await page.locator('#no-sockets').isVisible(), 'bob can publish: the empty state shows the command');
    assert.match((await page.textContent('#no-sockets')) ?? '', /postern connect --port 3000 --cloudauth/);
    console.log(`screenshot: ${await screenshot(page, 'portal-member')}`);

    const json = await portalJson(context);
    assert.equal(json.user?.email, 'bob@corp.test');
    assert.deepEqual(json.apps.map((a) => a.hostname).sort(), [...hosts].sort());
    const wikiApp = json.apps.find((a) => a.hostname === hostOf(wiki));
    assert.deepEqual(wikiApp, { name: 'wiki', hostname: hostOf(wiki), url: wiki.url, protocol: 'http', online: true, yours: false, owner: 'alice@corp.test' });
    for (const entry of json.apps) assert.deepEqual(Object.keys(entry).sort(), ['hostname', 'name', 'online', 'owner', 'protocol', 'url', 'yours'], 'no ids or rules of other accounts');
    assert.deepEqual(json.sockets, []);

    // The tile opens the app with the edge sign-in: no second login (once asked whether alice's app may know him).
    await tile(wiki).locator('a.tile-name').click();
    await continueIfAsked(page, wiki.url);
    await page.waitForURL(`${wiki.url}/`);
    assert.equal((await page.textContent('#who'))?.trim(), 'X-Auth-Email: bob@corp.test');
  });

  it('someone outside every rule sees the empty state', async () => {
    const { context, page } = await newPage();
    await signIn(page, 'carol@other.test');
    assert.equal(await page.locator('#apps .app').count(), 0);
    const empty = (await page.textContent('#no-apps')) ?? '';
    assert.match(empty, /No apps are shared with you yet/);
    assert.match(empty, /Ask its owner to add you/);
    assert.match((await page.textContent('#no-sockets')) ?? '', /postern connect --port 3000 --cloudauth/, 'carol can publish: the command is one step away');
    console.log(`screenshot: ${await screenshot(page, 'portal-empty')}`);
    const json = await portalJson(context);
    assert.deepEqual({ apps: json.apps, sockets: json.sockets }, { apps: [], sockets: [] });
  });

  it('the owner sees her sockets with rules, live status, tunnels and the quick-share marker', async () => {
    const { context, page } = await newPage();
    await signIn(page, 'alice@corp.test');
    const demoHost = demo.ready!.hostname;
    assert.deepEqual(
      [...(await appHosts(page))].sort(),
      [hostOf(wiki), hostOf(grafana), hostOf(postgres), demoHost].sort(),
      "her own sockets (even public ones), nothing of dave's",
    );

    const card = (host: string) => page.locator(`#sockets .socket[data-host="${host}"]`);
    assert.equal(await page.locator('#sockets .socket').count(), 4);
    const wikiCard = (await card(hostOf(wiki)).textContent()) ?? '';
    assert.match(wikiCard, /Online/);
    assert.match(wikiCard, /You, and\s*anyone @corp\.test/);
    assert.match(wikiCard, /office · Connected\s*up for less than a minute/);
    const grafanaCard = (await card(hostOf(grafana)).textContent()) ?? '';
    assert.match(grafanaCard, /Offline/);
    assert.match(grafanaCard, /Only you/);
    assert.match(grafanaCard, /staging · Offline\s*never connected/);
    assert.ok(grafanaCard.includes(`postern connect --socket ${grafana.id} --port 3000`), 'an offline socket says how to serve it');
    assert.match((await card(hostOf(postgres)).textContent()) ?? '', /\(TCP\)[\s\S]*anyone @corp\.test/);
    const demoCard = (await card(demoHost).textContent()) ?? '';
    assert.match(demoCard, /Online[\s\S]*Public[\s\S]*Quick share/);
    assert.match(demoCard, /Anyone with the link, without signing in/);
    console.log(`screenshot: ${await screenshot(page, 'portal-owner')}`);

    const json = await portalJson(context);
    const byHost = new Map(json.sockets.map((s) => [s.hostname, s]));
    assert.equal(byHost.get(hostOf(wiki))?.online, true);
    assert.deepEqual(byHost.get(hostOf(wiki))?.access, {
      kind: 'rules',
      email_domains: ['corp.test'],
      email_addresses: [],
      github_orgs: [],
      github_teams: [],
      groups: [],
      rules: [],
      default: 'you and anyone @corp.test',
    });
    const office = byHost.get(hostOf(wiki))?.tunnels.find((t) => t.id === officeTunnel);
    assert.equal(office?.status, 'connected');
    assert.ok(office?.last_connected_at && Date.now() - Date.parse(office.last_connected_at) < 60_000, 'last connected recently');
    const staging = byHost.get(hostOf(grafana))?.tunnels.find((t) => t.id === stagingTunnel);
    assert.deepEqual({ status: staging?.status, last: staging?.last_connected_at }, { status: 'offline', last: null });
    assert.deepEqual(byHost.get(hostOf(grafana))?.access, { kind: 'owner-only' });
    assert.deepEqual(byHost.get(demoHost)?.access, { kind: 'public' });
    assert.equal(byHost.get(demoHost)?.ephemeral, true);
    assert.doesNotMatch(JSON.stringify(json), /pst_/, 'no token in the portal');
  });
});
