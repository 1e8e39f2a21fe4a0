import { createHash, randomBytes } from 'node:crypto';
import { safeCode } from './http-json.js';
import { GrantEndedError, ProviderError, type RedirectProvider, type VerifiedIdentity } from './types.js';

/**
 * What the plain OAuth 2 providers (GitHub, Facebook) share: the code flow with `state` and PKCE
 * S256 done by hand (they are not OpenID providers), and, with no refresh tokens, the access token
 * itself as the grant: asking the API again with it is the re-validation.
 */

/** A PKCE S256 pair (RFC 7636): the verifier stays in the transaction, the challenge goes in the URL. */
export function pkcePair(): { readonly codeVerifier: string; readonly codeChallenge: string } {
  const codeVerifier = randomBytes(32).toString('base64url');
  return { codeVerifier, codeChallenge: createHash('sha256').update(codeVerifier).digest('base64url') };
}

/**
 * The authorization code of a callback, after its checks: each parameter at most once, the state of
 * this transaction, `check` (an issuer's own), no error. Throws ProviderError.
 */
export function codeFromCallback(callbackUrl: URL, state: string, providerName: string, check?: (params: URLSearchParams) => void): string {
  const params = callbackUrl.searchParams;
  for (const name of ['state', 'code', 'error', 'iss']) {
    if (params.getAll(name).length > 1) throw new ProviderError(`Sign-in failed: repeated "${name}" in the callback`);
  }
  if (params.get('state') !== state) throw new ProviderError('Sign-in failed: the sign-in state does not match');
  check?.(params);
  const error = params.get('error');
  if (error !== null) throw new ProviderError(`Sign-in failed: ${providerName} answered ${safeCode(error)}`);
  const code = params.get('code');
  if (!code) throw new ProviderError(`Sign-in failed: ${providerName} sent no code`);
  return code;
}

/** The access token of an OAuth token answer, when it is a usable bearer token (RFC 6749 §5.1). */
export function bearerTokenOf(body: Readonly<Record<string, unknown>>): string | undefined {
  const token = body.access_token;
  const type = body.token_type;
  return typeof token === 'string' && token && typeof type === 'string' && type.toLowerCase() === 'bearer' ? token : undefined;
}

/** Re-validation by the API: the token's holder now, who must still be the person who signed in. */
export function revalidateByToken(providerName: string, identityFor: (token: string) => Promise<VerifiedIdentity>): RedirectProvider['revalidate'] {
  return async (grant, previous) => {
    if (!grant.accessToken) throw new Error(`no ${providerName} token to re-validate with`);
    const identity = await identityFor(grant.accessToken);
    if (identity.subject !== previous.subject) throw new GrantEndedError(`${providerName} answered for another user`);
    return { identity, grant, notices: [] };
  };
}
