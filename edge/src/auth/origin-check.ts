import type { IncomingMessage } from 'node:http';

/** Methods that must not change anything (RFC 9110 §9.2.1): never refused for their origin. */
const SAFE_METHODS: ReadonlySet<string> = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE']);

export const isSafeMethod = (method: string | undefined): boolean => SAFE_METHODS.has(method ?? 'GET');

/**
 * Whether a request comes from a page of `origin` itself (or from no page at all). Sibling sockets
 * are same-site, so SameSite=Lax cookies ride along on their forms and `no-cors` fetches: only the
 * browser's own account of where a request comes from tells them apart. Browsers send `Origin` on
 * every POST; over https they also send `Sec-Fetch-Site`. A request without `Origin` passes only
 * when `Sec-Fetch-Site` is absent (not a browser, or plain http) or says `same-origin` / `none`
 * (the person typed it). Two Origin headers arrive joined (`a, b`) and never match.
 */
export function isSameOriginRequest(req: IncomingMessage, origin: string): boolean {
  const sent = req.headers.origin;
  if (sent !== undefined) return sent === origin;
  const site = req.headers['sec-fetch-site'];
  return site === undefined || site === 'same-origin' || site === 'none';
}

/** Where a refused request came from, for the audit log and the page (never longer than a header value can be). */
export function claimedOrigin(req: IncomingMessage): string {
  const origin = req.headers.origin;
  const site = req.headers['sec-fetch-site'];
  const from = origin !== undefined ? `Origin ${origin}` : `Sec-Fetch-Site ${String(site)}`;
  return from.length > 200 ? `${from.slice(0, 200)}…` : from;
}
