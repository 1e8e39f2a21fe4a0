import { TOKEN_PREFIX } from '../store/tokens.js';

/**
 * `Authorization: Bearer pst_…` with the scheme in any case and any amount of space (RFC 9110
 * §11.1: the scheme is case-insensitive, one or more spaces follow it). Only this is taken as a
 * Postern token; the token itself is returned.
 */
export function posternBearerToken(authorization: string | undefined): string | undefined {
  if (authorization === undefined) return undefined;
  const match = /^[ \t]*bearer[ \t]+(pst_[^ \t]*)[ \t]*$/i.exec(authorization);
  return match?.[1];
}

/** Anything that looks like a Postern token, in any scheme or none: it never reaches an app. */
const TOKEN_LIKE = new RegExp(`${TOKEN_PREFIX}[A-Za-z0-9_-]{8,}`);

export const carriesPosternToken = (value: string): boolean => TOKEN_LIKE.test(value);
