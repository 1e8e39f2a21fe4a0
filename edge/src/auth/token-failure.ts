import { EdgeError } from '../errors.js';
import type { TokenCheck } from '../store/tokens.js';

/** The error for a token that did not pass, precise enough that the CLI can say what to do. */
export function tokenFailure(check: TokenCheck | undefined): EdgeError {
  if (!check || check.ok || check.reason === 'unknown') {
    return new EdgeError('UNAUTHORIZED', 'missing or unknown Postern token: run "postern login", or pass --token-file / POSTERN_TOKEN');
  }
  const when = (at: number | null | undefined) => (at ? ` on ${new Date(at).toISOString()}` : '');
  return check.reason === 'expired'
    ? new EdgeError('TOKEN_EXPIRED', `this Postern token expired${when(check.token?.expiresAt)}: run "postern login" for a new one`)
    : new EdgeError('TOKEN_REVOKED', `this Postern token was revoked${when(check.token?.revokedAt)}: run "postern login" for a new one`);
}
