import { STATUS_CODES, type IncomingMessage } from 'node:http';
import { RESERVED_COOKIE_NAMES, setsReservedCookie, stripReservedCookies } from '../auth/cookies.js';
import { carriesPosternToken } from '../auth/postern-token.js';
import type { HeaderNameMatcher } from './foreign-identity.js';
import { REQUEST_ID_HEADER } from '../observability/request-id.js';
import { HSTS_HEADER } from '../net/hsts.js';

export type HeaderMap = Record<string, string | string[] | undefined>;

/** Hop-by-hop headers (RFC 9110 §7.6.1) and others that describe one connection, not the message. */
const HOP_BY_HOP: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'http2-settings',
  // The edge answers `Expect: 100-continue` itself (Node does); the app receives the body directly.
  'expect',
]);

/** Headers only the edge may set: every client-sent variant is dropped before ours are added. */
const EDGE_OWNED: ReadonlySet<string> = new Set([
  'host',
  'forwarded',
  'x-real-ip',
  REQUEST_ID_HEADER,
]);

/** Whole families the edge owns: its own, and every X-Forwarded-* (apps from oauth2-proxy trust -Email, -User...). */
const EDGE_OWNED_PREFIXES = ['x-postern-', 'x-forwarded-'] as const;

/** Lower-cases and maps `_` to `-`, so `X_Forwarded_For` cannot slip past as a different name. */
export const canonicalName = (name: string): string => name.toLowerCase().replace(/_/g, '-');

/** Framing and credential headers: an identity header under one of these names would change what they mean. */
const FRAMING_AND_CREDENTIALS: ReadonlySet<string> = new Set(['content-length', 'content-type', 'content-encoding', 'cookie', 'authorization']);

/**
 * Whether a socket may give an identity header this name: not a hop-by-hop, framing or credential
 * header (`Content-Length: alice@corp.com` would desync the edge and the app), and not one the edge
 * sets itself.
 */
export function isUsableIdentityHeaderName(name: string): boolean {
  const canonical = canonicalName(name);
  return !HOP_BY_HOP.has(canonical) && !EDGE_OWNED.has(canonical) && !FRAMING_AND_CREDENTIALS.has(canonical) && !EDGE_OWNED_PREFIXES.some((p) => canonical.startsWith(p));
}

/** Names listed in a Connection header, canonicalised. */
function connectionListed(value: string | string[] | undefined): Set<string> {
  const listed = new Set<string>();
  if (!value) return listed;
  for (const part of (Array.isArray(value) ? value.join(',') : value).split(',')) {
    const name = part.trim();
    if (name) listed.add(canonicalName(name));
  }
  return listed;
}

export const ASSERTION_HEADER = 'X-Postern-Assertion';

export interface ForwardContext {
  /** Canonical names the edge owns on this socket (identity headers, other proxies' ones): client-sent ones are dropped. */
  readonly reservedNames: HeaderNameMatcher;
  /** Identity headers to add, as [name, value, ...]. */
  readonly identity: readonly string[];
  /** The client's Authorization carried our token: it was consumed and must not reach the app. */
  readonly stripAuthorization: boolean;
  readonly clientIp: string;
  readonly proto: 'http' | 'https';
  /** The public authority the browser used. */
  readonly publicHost: string;
  /** The Host the app receives: the public one unless the connector asked for a rewrite. */
  readonly upstreamHost: string;
  /** The edge's id of this request (X-Request-Id). */
  readonly requestId: string;
}

/**
 * Builds the request headers for the app as a flat [name, value, ...] list (duplicates kept).
 * Connection-scoped and edge-owned headers are dropped in every spelling, then the edge sets its own.
 */
export function upstreamRequestHeaders(req: IncomingMessage, ctx: ForwardContext): string[] {
  const listed = connectionListed(req.headers.connection);
  const raw = req.rawHeaders;
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const canonical = canonicalName(name);
    if (HOP_BY_HOP.has(canonical) || EDGE_OWNED.has(canonical) || listed.has(canonical)) continue;
    if (EDGE_OWNED_PREFIXES.some((p) => canonical.startsWith(p)) || ctx.reservedNames.has(canonical)) continue;
    let value = raw[i + 1]!;
    // Consumed, or a Postern token in any other spelling (`Token pst_…`, a second Authorization): never the app's.
    if (canonical === 'authorization' && (ctx.stripAuthorization || carriesPosternToken(value))) continue;
    if (canonical === 'cookie') {
      // The edge's own cookies never reach the app.
      const kept = stripReservedCookies(value);
      if (kept === null) continue;
      value = kept;
    }
    out.push(name, value);
  }
  out.push(...ctx.identity);
  out.push(
    'host', ctx.upstreamHost,
    'x-forwarded-for', ctx.clientIp,
    'x-forwarded-proto', ctx.proto,
    'x-forwarded-host', ctx.publicHost,
    REQUEST_ID_HEADER, ctx.requestId,
  );
  return out;
}

/**
 * Response headers an app may not send, whatever it is: they act on the whole parent domain or on
 * the edge itself. `Clear-Site-Data` would sign the visitor out of the edge (it clears the socket
 * host's cookies, and a sibling can provoke it), `Postern-Error` would pass the app's answer off as
 * the edge's, `Set-Cookie2` is a second way to set cookies.
 */
const APP_FORBIDDEN: ReadonlySet<string> = new Set(['clear-site-data', 'postern-error', 'set-cookie2']);

/** A header value naming one of the edge's cookies (`postern_session`, `__Host-postern_login`...). */
const NAMES_EDGE_COOKIE = new RegExp([...RESERVED_COOKIE_NAMES].filter((n) => !n.startsWith('__host-')).join('|'), 'i');

/**
 * An app's Set-Cookie line made host-only: every `Domain` attribute removed, so the cookie stays
 * on the socket's own host. With `Domain=<edge domain>` a sibling could set cookies for every socket
 * and the edge (a cookie bomb answering 431 everywhere, or a planted cookie shadowing a session).
 */
export function hostOnlyCookie(line: string): string {
  const [pair, ...attributes] = line.split(';');
  const kept = attributes.filter((attribute) => attribute.split('=', 1)[0]!.trim().toLowerCase() !== 'domain');
  return [pair, ...kept].join(';');
}

/**
 * Response headers for the browser: hop-by-hop ones removed (Node frames the body itself), the
 * app's X-Request-Id (the client gets the edge's id) and the app's HSTS (the edge owns TLS)
 * dropped; Set-Cookie made host-only and never for a reserved name; APP_FORBIDDEN headers and any
 * other header naming an edge cookie dropped.
 */
export function downstreamResponseHeaders(headers: HeaderMap, keepUpgrade = false): HeaderMap {
  const listed = keepUpgrade ? new Set<string>() : connectionListed(headers.connection);
  const out: HeaderMap = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    if (keepUpgrade && (name === 'connection' || name === 'upgrade')) {
      out[name] = value;
      continue;
    }
    if (HOP_BY_HOP.has(name) || listed.has(name) || name === REQUEST_ID_HEADER) continue;
    // Transport security is the edge's: it owns TLS for this host (see net/hsts.ts).
    if (name === HSTS_HEADER || APP_FORBIDDEN.has(name)) continue;
    if (name === 'set-cookie') {
      // An app may not set (or overwrite) the edge's session cookies on its host, nor any cookie beyond it.
      const kept = (Array.isArray(value) ? value : [value]).filter((line) => !setsReservedCookie(line)).map(hostOnlyCookie);
      if (kept.length > 0) out[name] = kept;
      continue;
    }
    if ((Array.isArray(value) ? value : [value]).some((v) => NAMES_EDGE_COOKIE.test(v))) continue;
    out[name] = value;
  }
  return out;
}

/** Reason phrases relayed as the app wrote them: tab, space and visible ASCII (RFC 9112, section 4). */
const PLAIN_REASON = /^[\t\x20-\x7e]+$/;

/**
 * The reason phrase the client gets: the app's when it is plain text, else the standard one for the
 * code. Bytes that are not text (`200 \xffOK`, UTF-8) reach us already decoded and cannot be
 * relayed as they were; clients ignore the phrase anyway (HTTP/2 has none).
 */
export function relayedReason(statusCode: number, reason: string | undefined): string {
  return reason !== undefined && PLAIN_REASON.test(reason) ? reason : (STATUS_CODES[statusCode] ?? '');
}

/** Serialises a response head for a raw socket (upgrade answers); values come from a strict parser. */
export function serializeResponseHead(statusCode: number, statusMessage: string, headers: HeaderMap): string {
  let head = `HTTP/1.1 ${statusCode} ${statusMessage}\r\n`;
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    for (const v of Array.isArray(value) ? value : [value]) head += `${name}: ${v}\r\n`;
  }
  return head + '\r\n';
}
