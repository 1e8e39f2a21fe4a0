import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';

/** Debian's Chromium (installed by `.ci/run` when missing); override with POSTERN_CHROMIUM. */
export const CHROMIUM_PATH = process.env.POSTERN_CHROMIUM ?? '/usr/bin/chromium';

/** Where screenshots for humans go (not committed). */
export const SHOTS_DIR = process.env.POSTERN_SHOTS_DIR ?? '/tmp/postern-shots';

export function chromiumAvailable(): boolean {
  return existsSync(CHROMIUM_PATH);
}

/**
 * Names Chromium may resolve: loopback only. Every other name fails as "not found" without a DNS
 * query, so a test that provokes a navigation elsewhere (an open redirect) never leaves the machine.
 */
const LOOPBACK_ONLY = '--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE *.localhost, EXCLUDE 127.0.0.1, EXCLUDE [::1]';

/**
 * Headless Chromium, no background traffic. Chromium resolves `*.localhost` to loopback itself;
 * `loopbackDomain` maps a real-looking domain and its subdomains there too, and `home` is the HOME
 * whose NSS database (~/.pki/nssdb) holds the root CAs it trusts beyond the system's.
 */
export async function launchChromium(options: { loopbackDomain?: string; home?: string } = {}): Promise<Browser> {
  // A launch that hangs is tried once more: on a 2-core machine under the suite's load, Chromium now and
  // then never answers its first DevTools message (3 launches of ~40 in one run), and a second launch
  // starts in about a second. Two attempts, each bounded.
  try {
    return await launchOnce(options);
  } catch (err) {
    if ((err as Error).name !== 'TimeoutError') throw err;
    return launchOnce(options);
  }
}

function launchOnce(options: { loopbackDomain?: string; home?: string }): Promise<Browser> {
  const resolver = options.loopbackDomain
    ? LOOPBACK_ONLY.replace('MAP * ~NOTFOUND', `MAP *.${options.loopbackDomain} 127.0.0.1, MAP ${options.loopbackDomain} 127.0.0.1, MAP * ~NOTFOUND`)
    : LOOPBACK_ONLY;
  return chromium.launch({
    executablePath: CHROMIUM_PATH,
    headless: true,
    timeout: 30_000,
    ...(options.home ? { env: { ...process.env, HOME: options.home } } : {}),
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-component-update',
      '--disable-sync',
      resolver,
    ],
  });
}

/** Saves a full-page PNG under SHOTS_DIR and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SHOTS_DIR, { recursive: true });
  const path = join(SHOTS_DIR, `${name}.png`);
  await page.screenshot({ path, fullPage: true, timeout: 10_000 });
  return path;
}

/**
 * Fills oidc-provider's development login form (any login name, any password) and submits it;
 * resolves when the browser has left the IdP.
 */
export async function idpLogin(page: Page, login: string, idpOrigin: string): Promise<void> {
  await page.waitForURL((url) => url.href.startsWith(`${idpOrigin}/interaction/`), { timeout: 10_000 });
  await page.fill('input[name="login"]', login, { timeout: 5_000 });
  await page.fill('input[name="password"]', 'any-password', { timeout: 5_000 });
  await Promise.all([
    page.waitForURL((url) => !url.href.startsWith(idpOrigin), { timeout: 10_000 }),
    page.click('button[type="submit"]', { timeout: 5_000 }),
  ]);
}

/**
 * After signing in on the way to a socket of another account: the edge asks once whether that app
 * may learn who the person is (auth/handoff-consent.ts). Answers "Continue" when asked; resolves
 * once the browser is on its way to `target` (or there already).
 */
export async function continueIfAsked(page: Page, target: string): Promise<void> {
  const host = new URL(target).host;
  await page.waitForURL((u) => (u.host === host && !u.pathname.startsWith('/.postern/')) || (u.pathname === '/auth/login' && u.searchParams.has('bind')), { timeout: 10_000 });
  if (new URL(page.url()).host === host) return;
  await Promise.all([
    page.waitForURL((u) => u.host === host, { timeout: 10_000 }),
    page.click('form[data-postern="handoff-consent"] button[type="submit"]', { timeout: 5_000 }),
  ]);
}
