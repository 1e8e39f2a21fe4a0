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
export function launchChromium(options: { loopbackDomain?: string; home?: string } = {}): Promise<Browser> {
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
