import { execFileSync } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { launchChromium } from './browser.js';
import { issueServerCert, makeTestCa, type TestCa } from './certs.js';
import { request, type Response } from './http.js';
import { IdentityApp } from './identity-app.js';
import { ConnectorProcess, createAccount, EdgeProcess, freePort } from './postern.js';
import { killAll } from './process.js';
import { ScriptedApp } from './scripted-app.js';

/** The parent domain: every name under it is same-site with every other (Chromium's default PSL rule). */
export const LOOPBACK_SUFFIX = 'postern.test';
export const EDGE_HOST = `edge.${LOOPBACK_SUFFIX}`;
export const BOB = { email: 'bob@corp.test', password: 'bob-password-7c1d' } as const;
export const MALLORY = { email: 'mallory@attacker.test', password: 'mallory-password-93ae' } as const;

const here = dirname(fileURLToPath(import.meta.url));

/**
 * Chromium trusts the test root exactly as it trusts a public CA: the root goes into the NSS
 * database of the HOME Chromium runs with (certutil, libnss3-tools). The browser then checks the
 * chain, the names and the dates itself; no certificate error is ignored, so https behaves as in
 * production (Secure and `__Host-` cookies, Sec-Fetch-* headers, HSTS).
 */
function trustRootInNss(home: string, caFile: string): void {
  const db = `sql:${join(home, '.pki', 'nssdb')}`;
  mkdirSync(join(home, '.pki', 'nssdb'), { recursive: true });
  execFileSync('certutil', ['-d', db, '-N', '--empty-password'], { stdio: 'pipe', timeout: 30_000 });
  execFileSync('certutil', ['-d', db, '-A', '-t', 'C,,', '-n', 'Postern test root', '-i', caFile], { stdio: 'pipe', timeout: 30_000 });
}

/**
 * The security suite on a real-looking domain: an https edge at `edge.postern.test:<port>` (a test
 * CA made by openssl now), every name under it mapped to loopback (Chromium's host-resolver rules;
 * a `dns.lookup` preload for connectors and the CLI; Host headers for the tests' own requests), and
 * three sockets of two accounts:
 *
 * - A (`alpha-…`): alice's sign-in socket for @corp.test, an IdentityApp: the victim's app.
 * - M (`mallory-…`): mallory's public socket, a ScriptedApp: the attacker's pages and headers.
 * - C (`alpha-…` too): mallory's sign-in socket, also named "alpha", widened to @corp.test: the
 *   look-alike that would collect visitors' identities.
 *
 * Bob (@corp.test, the visitor) and mallory sign in with local accounts.
 */
export class RealDomainRig {
  private browserPromise: Promise<Browser> | undefined;

  private constructor(
    readonly dir: string,
    readonly ca: TestCa,
    readonly edge: EdgeProcess,
    readonly appA: IdentityApp,
    readonly appM: ScriptedApp,
    readonly appC: IdentityApp,
    readonly socketA: ConnectorProcess,
    readonly socketM: ConnectorProcess,
    readonly socketC: ConnectorProcess,
    readonly tokens: { readonly alice: string; readonly mallory: string },
  ) {}

  static async start(dir: string, extraArgs: readonly string[] = []): Promise<RealDomainRig> {
    const ca = makeTestCa(dir);
    const cert = issueServerCert(ca, 'edge', [EDGE_HOST, `*.${EDGE_HOST}`], '2a01');
    trustRootInNss(join(dir, 'home'), ca.caFile);
    const db = join(dir, 'edge.db');
    // One at a time: the first CLI run creates the database.
    const alice = await createAccount(db, 'alice@corp.test');
    const mallory = await createAccount(db, MALLORY.email, MALLORY.password);
    await createAccount(db, BOB.email, BOB.password);
    const port = await freePort();
    const edge = await EdgeProcess.start({
      db,
      port,
      domain: `${EDGE_HOST}:${port}`,
      tls: { certFile: cert.certFile, keyFile: cert.keyFile, caFile: ca.caFile, caPem: ca.caPem },
      extraArgs: ['--local-accounts', ...extraArgs],
      clientEnv: { NODE_OPTIONS: `--import=${pathToFileURL(join(here, 'loopback-resolver.js')).href}`, LOOPBACK_NAMES: LOOPBACK_SUFFIX },
    });
    const [appA, appM, appC] = await Promise.all([IdentityApp.start('A'), ScriptedApp.start(), IdentityApp.start('C')]);
    const [socketA, socketM, socketC] = await Promise.all([
      ConnectorProcess.start({ edge, token: alice, appPort: appA.port, label: 'connect:A', args: ['--name', 'alpha', '--cloudauth', '--allowed-email-domains', 'corp.test'] }),
      ConnectorProcess.start({ edge, token: mallory, appPort: appM.port, label: 'connect:M', args: ['--name', 'mallory'] }),
      ConnectorProcess.start({ edge, token: mallory, appPort: appC.port, label: 'connect:C', args: ['--name', 'alpha', '--cloudauth', '--allowed-email-domains', 'corp.test'] }),
    ]);
    return new RealDomainRig(dir, ca, edge, appA, appM, appC, socketA, socketM, socketC, { alice, mallory });
  }

  get edgeOrigin(): string {
    return this.edge.url;
  }

  get originA(): string {
    return `https://${this.socketA.publicHost}`;
  }

  get originM(): string {
    return `https://${this.socketM.publicHost}`;
  }

  get originC(): string {
    return `https://${this.socketC.publicHost}`;
  }

  /** One https request from Node, with the name checked against the test CA. */
  fetch(url: string, init: { method?: string; headers?: Record<string, string | string[]>; body?: string; localAddress?: string } = {}): Promise<Response> {
    const u = new URL(url);
    return request({
      port: this.edge.port,
      host: u.host,
      method: init.method ?? 'GET',
      path: u.pathname + u.search,
      headers: { ...(init.body !== undefined ? { 'content-type': 'application/x-www-form-urlencoded', 'content-length': String(Buffer.byteLength(init.body)) } : {}), ...init.headers },
      body: init.body === undefined ? undefined : Buffer.from(init.body),
      ca: this.ca.caPem,
      ...(init.localAddress ? { localAddress: init.localAddress } : {}),
    });
  }

  /** The one Chromium of the suite (launched on first use). */
  browser(): Promise<Browser> {
    this.browserPromise ??= launchChromium({ loopbackDomain: LOOPBACK_SUFFIX, home: join(this.dir, 'home') });
    return this.browserPromise;
  }

  async newContext(): Promise<BrowserContext> {
    const context = await (await this.browser()).newContext();
    context.setDefaultTimeout(10_000);
    return context;
  }

  /**
   * Signs in with a local account in `page`, starting at `url`, and answers the hand-off question
   * (Continue) when `consent` says so; resolves on the page where the flow stopped.
   */
  async signIn(page: Page, url: string, who: { email: string; password: string }, consent = true): Promise<void> {
    await page.goto(url);
    await page.waitForURL((u) => u.host === this.edge.domain && u.pathname === '/auth/start/local');
    await page.fill('#email', who.email);
    await page.fill('#password', who.password);
    await Promise.all([page.waitForURL((u) => u.pathname !== '/auth/start/local'), page.click('button[type="submit"]')]);
    if (!consent) return;
    const target = new URL(url);
    if (target.host === this.edge.domain) return;
    if (new URL(page.url()).host === this.edge.domain) {
      await page.waitForSelector('form[data-postern="handoff-consent"]');
      await Promise.all([page.waitForURL((u) => u.host === target.host), page.click('form[data-postern="handoff-consent"] button[type="submit"]')]);
    }
    await page.waitForURL((u) => u.host === target.host && !u.pathname.startsWith('/.postern/'));
  }

  async close(): Promise<void> {
    const browser = await this.browserPromise?.catch(() => undefined);
    await browser?.close().catch(() => undefined);
    await killAll();
    await Promise.all([this.appA.close(), this.appM.close(), this.appC.close()]);
  }
}
