import assert from 'node:assert/strict';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import { request } from './http.js';

/**
 * A tiny scripted "browser" for flows that do not need Chromium: a cookie jar (host-only cookies
 * by host name, RFC 6265 path matching, Max-Age/Expires deletion) and manual redirect following.
 * Every request goes to 127.0.0.1:<port of the URL> with the URL's authority as the Host header, so
 * `*.localhost` names work without a resolver.
 */

export interface StoredCookie {
  readonly name: string;
  readonly value: string;
  /** Host name the cookie belongs to (no port: cookies do not isolate ports). */
  readonly host: string;
  readonly path: string;
  /** The Set-Cookie line as received, to assert on attributes. */
  readonly raw: string;
  readonly domainAttribute: string | null;
}

export interface Hop {
  readonly method: string;
  readonly url: string;
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** Absolute URL of the Location header, when any. */
  readonly location: string | undefined;
  /** The Location header exactly as sent. */
  readonly rawLocation: string | undefined;
  readonly setCookies: readonly string[];
  readonly body: string;
}

export interface NavigateOptions {
  /** Stop before requesting a URL for which this returns true (the URL is returned as `stoppedAt`). */
  readonly stopAt?: (url: URL) => boolean;
  /** Login name to type into oidc-provider's development login form when it shows up. */
  readonly login?: string;
  readonly maxHops?: number;
  readonly headers?: OutgoingHttpHeaders;
  /**
   * Answer the edge's hand-off question ("continue to this app of another account?") with yes, as
   * a person who asked for the app does (default true); false stops on the question.
   */
  readonly consent?: boolean;
}

export interface Navigation {
  readonly hops: Hop[];
  /** The last response received. */
  readonly last: Hop;
  /** The URL not requested because `stopAt` matched it. */
  readonly stoppedAt: URL | undefined;
}

const BROWSER_ACCEPT = 'text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8';

function defaultPath(pathname: string): string {
  if (!pathname.startsWith('/')) return '/';
  const slash = pathname.lastIndexOf('/');
  return slash <= 0 ? '/' : pathname.slice(0, slash);
}

function pathMatches(cookiePath: string, requestPath: string): boolean {
  if (requestPath === cookiePath) return true;
  if (!requestPath.startsWith(cookiePath)) return false;
  return cookiePath.endsWith('/') || requestPath[cookiePath.length] === '/';
}

function decodeEntities(s: string): string {
  return s
    .replace(/&#x([0-9a-f]+);/gi, (_m, hex: string) => String.fromCodePoint(parseInt(hex, 16)))
    .replace(/&#(\d+);/g, (_m, dec: string) => String.fromCodePoint(Number(dec)))
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

export class WebClient {
  cookies: StoredCookie[] = [];
  /** Every response this client received, in order. */
  readonly history: Hop[] = [];

  constructor(
    readonly label = 'client',
    /** Source address of every request (see RequestOptions.localAddress). */
    readonly localAddress?: string,
  ) {}

  /** Cookies the jar would send to `url`. */
  cookiesFor(url: string | URL): StoredCookie[] {
    const u = new URL(url);
    return this.cookies.filter((c) => {
      const hostOk = c.domainAttribute
        ? u.hostname === c.domainAttribute || u.hostname.endsWith(`.${c.domainAttribute}`)
        : u.hostname === c.host;
      return hostOk && pathMatches(c.path, u.pathname);
    });
  }

  cookie(url: string | URL, name: string): string | undefined {
    return this.cookiesFor(url).find((c) => c.name === name)?.value;
  }

  /** Puts a cookie in the jar by hand (a planted or tampered one). */
  setCookie(url: string | URL, name: string, value: string, path = '/'): void {
    const host = new URL(url).hostname;
    this.cookies = this.cookies.filter((c) => !(c.host === host && c.name === name && c.path === path));
    this.cookies.push({ name, value, host, path, raw: `${name}=${value}`, domainAttribute: null });
  }

  clearCookies(): void {
    this.cookies = [];
  }

  /** One request with the jar's cookies; the jar learns from the answer. No redirect following. */
  async fetch(url: string | URL, init: { method?: string; headers?: OutgoingHttpHeaders; form?: Record<string, string>; cookies?: boolean } = {}): Promise<Hop> {
    const u = new URL(url);
    const headers: OutgoingHttpHeaders = { accept: BROWSER_ACCEPT, ...init.headers };
    if (init.cookies !== false && headers.cookie === undefined) {
      const jar = this.cookiesFor(u);
      if (jar.length > 0) headers.cookie = jar.map((c) => `${c.name}=${c.value}`).join('; ');
    }
    let body: Buffer | undefined;
    if (init.form) {
      body = Buffer.from(new URLSearchParams(init.form).toString());
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers['content-length'] = String(body.length);
    }
    const method = init.method ?? (init.form ? 'POST' : 'GET');
    const res = await request({
      port: Number(u.port || 80),
      host: u.host,
      method,
      path: u.pathname + u.search,
      headers,
      body,
      ...(this.localAddress ? { localAddress: this.localAddress } : {}),
    });
    const setCookie = res.headers['set-cookie'] ?? [];
    for (const line of setCookie) this.learn(u, line);
    const rawLocation = typeof res.headers.location === 'string' ? res.headers.location : undefined;
    const hop: Hop = {
      method,
      url: u.href,
      status: res.status,
      headers: res.headers,
      location: rawLocation === undefined ? undefined : new URL(rawLocation, u).href,
      rawLocation,
      setCookies: setCookie,
      body: res.body.toString('utf8'),
    };
    this.history.push(hop);
    return hop;
  }

  /**
   * GET `url` and follow redirects (and oidc-provider's login form when `login` is given) until a
   * page that is not a redirect, a `stopAt` URL, or `maxHops`.
   */
  async navigate(url: string | URL, options: NavigateOptions = {}): Promise<Navigation> {
    const hops: Hop[] = [];
    let next: URL | undefined = new URL(url);
    let form: Record<string, string> | undefined;
    const maxHops = options.maxHops ?? 20;
    for (let i = 0; i < maxHops && next; i++) {
      if (options.stopAt?.(next)) return { hops, last: hops[hops.length - 1]!, stoppedAt: next };
      const hop = await this.fetch(next, { ...(form ? { form } : {}), headers: { ...options.headers } });
      hops.push(hop);
      form = undefined;
      if ([301, 302, 303, 307, 308].includes(hop.status) && hop.location) {
        next = new URL(hop.location);
        continue;
      }
      const loginForm = options.login !== undefined ? /<form[^>]*action="([^"]+)"[^>]*>\s*<input type="hidden" name="prompt" value="login"/.exec(hop.body) : null;
      if (loginForm) {
        next = new URL(decodeEntities(loginForm[1]!), hop.url);
        form = { prompt: 'login', login: options.login!, password: 'any-password' };
        continue;
      }
      const handoff = options.consent !== false ? /<form method="post" action="([^"]+)" data-postern="handoff-consent">\s*<input type="hidden" name="rd" value="([^"]*)">\s*<input type="hidden" name="bind" value="([^"]*)">/.exec(hop.body) : null;
      if (handoff) {
        next = new URL(decodeEntities(handoff[1]!), hop.url);
        form = { rd: decodeEntities(handoff[2]!), bind: decodeEntities(handoff[3]!) };
        continue;
      }
      const consentForm = /<form[^>]*action="([^"]+)"[^>]*>\s*<input type="hidden" name="prompt" value="consent"/.exec(hop.body);
      if (consentForm && options.login !== undefined) {
        next = new URL(decodeEntities(consentForm[1]!), hop.url);
        form = { prompt: 'consent' };
        continue;
      }
      next = undefined;
    }
    if (next) throw new Error(`${this.label}: more than ${maxHops} hops from ${String(url)}:\n${hops.map((h) => `${h.status} ${h.method} ${h.url} -> ${h.rawLocation ?? ''}`).join('\n')}`);
    return { hops, last: hops[hops.length - 1]!, stoppedAt: undefined };
  }

  private learn(url: URL, line: string): void {
    const [pair, ...attrs] = line.split(';');
    const eq = pair!.indexOf('=');
    if (eq <= 0) return;
    const name = pair!.slice(0, eq).trim();
    const value = pair!.slice(eq + 1).trim();
    let path = defaultPath(url.pathname);
    let domainAttribute: string | null = null;
    let expired = false;
    for (const attr of attrs) {
      const [k, ...rest] = attr.split('=');
      const key = k!.trim().toLowerCase();
      const v = rest.join('=').trim();
      if (key === 'path' && v.startsWith('/')) path = v;
      else if (key === 'domain' && v) domainAttribute = v.replace(/^\./, '').toLowerCase();
      else if (key === 'max-age' && Number(v) <= 0) expired = true;
      else if (key === 'expires' && Date.parse(v) <= Date.now()) expired = true;
    }
    this.cookies = this.cookies.filter((c) => !(c.name === name && c.path === path && c.host === url.hostname));
    if (!expired) this.cookies.push({ name, value, host: url.hostname, path, raw: line, domainAttribute });
  }
}

/** Signs `client` in with a local account on its way to `appUrl` (through the edge at `edgeUrl`); returns the app's final answer. */
export async function signInLocal(client: WebClient, edgeUrl: string, appUrl: string, email: string, password: string): Promise<Hop> {
  const toForm = await client.navigate(appUrl);
  const tx = /name="tx" value="([^"]+)"/.exec(toForm.last.body)?.[1];
  assert.ok(tx, `the local sign-in form, got ${toForm.last.status} at ${toForm.last.url}`);
  const posted = await client.fetch(`${edgeUrl}/auth/local`, { form: { tx, email, password } });
  assert.equal(posted.status, 302, posted.body);
  return (await client.navigate(posted.location!)).last;
}
