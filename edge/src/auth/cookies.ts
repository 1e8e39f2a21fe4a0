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
}

export function cookieNames(secure: boolean): CookieNames {
  const prefix = secure ? '__Host-' : '';
  return { login: `${prefix}postern_login`, session: `${prefix}postern_session`, transaction: `${prefix}postern_tx` };
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

/** Whether a Set-Cookie line from the app names a reserved cookie (it is dropped). */
export function setsReservedCookie(line: string): boolean {
  const eq = line.indexOf('=');
  const name = (eq === -1 ? line : line.slice(0, eq)).trim().toLowerCase();
  return RESERVED_COOKIE_NAMES.has(name);
}
