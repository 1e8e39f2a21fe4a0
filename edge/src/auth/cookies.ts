import { parse, serialize } from 'cookie';
import type { IncomingMessage } from 'node:http';

/**
 * Cookie names. Every edge cookie is host-only (never a Domain attribute: sibling sockets are other
 * accounts), HttpOnly and SameSite=Lax; over https they carry the `__Host-` prefix, which browsers
 * enforce as Secure + Path=/ + no Domain.
 */
export interface CookieNames {
  /** The login session on the edge host. */
  readonly login: string;
  /** A socket session on one socket host. */
  readonly session: string;
  /** Binds a sign-in transaction to the browser that started it (login CSRF, swapped state). */
  readonly transaction: string;
  /** On a socket host: binds the one-time handoff code to the browser it was made for (login CSRF by link). */
  readonly bind: string;
}

export function cookieNames(secure: boolean): CookieNames {
  const prefix = secure ? '__Host-' : '';
  return { login: `${prefix}postern_login`, session: `${prefix}postern_session`, transaction: `${prefix}postern_tx`, bind: `${prefix}postern_bind` };
}

/** Every reserved name, in both forms: stripped from requests to the app and from its Set-Cookie. */
export const RESERVED_COOKIE_NAMES: ReadonlySet<string> = new Set(
  [...Object.values(cookieNames(false)), ...Object.values(cookieNames(true))].map((n) => n.toLowerCase()),
);

export function readCookie(req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie;
  if (!header) return undefined;
  return parse(header)[name];
}

export function setCookie(name: string, value: string, options: { secure: boolean; maxAgeSeconds?: number }): string {
  return serialize(name, value, {
    httpOnly: true,
    sameSite: 'lax',
    secure: options.secure,
    path: '/',
    ...(options.maxAgeSeconds !== undefined ? { maxAge: options.maxAgeSeconds } : {}),
  });
}

export const clearCookie = (name: string, secure: boolean): string => setCookie(name, '', { secure, maxAgeSeconds: 0 });

/**
 * The Cookie header the app receives: the edge's own cookies removed, the rest kept byte for byte.
 * Returns null when nothing is left.
 */
export function stripReservedCookies(header: string): string | null {
  const kept = header
    .split(';')
    .map((part) => part.trim())
    .filter((part) => {
      if (!part) return false;
      const eq = part.indexOf('=');
      const name = (eq === -1 ? part : part.slice(0, eq)).trim().toLowerCase();
      return !RESERVED_COOKIE_NAMES.has(name);
    });
  return kept.length > 0 ? kept.join('; ') : null;
}

/**
 * The name under which a browser sends a Set-Cookie line back. A nameless pair (`=postern_session=x`,
 * or no `=` at all) is stored with an empty name and sent back as its value alone, that is as
 * `postern_session=x`: its effective name is what precedes the value's own `=`.
 */
function nameAsSentBack(line: string): string {
  const pair = line.split(';', 1)[0]!;
  const eq = pair.indexOf('=');
  const name = eq === -1 ? '' : pair.slice(0, eq).trim();
  if (name !== '') return name.toLowerCase();
  const value = eq === -1 ? pair : pair.slice(eq + 1);
  const inner = value.indexOf('=');
  return (inner === -1 ? value : value.slice(0, inner)).trim().toLowerCase();
}

/** Whether a Set-Cookie line from the app would come back as a reserved cookie (it is dropped). */
export function setsReservedCookie(line: string): boolean {
  return RESERVED_COOKIE_NAMES.has(nameAsSentBack(line));
}
