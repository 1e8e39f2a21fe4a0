/**
 * Facebook Login, the manual web flow: the OAuth dialog with `state` and PKCE S256, the code
 * exchanged for a user access token, then the Graph API's `/me?fields=id,name,email`. The user is
 * keyed by the app-scoped user id. Facebook returns `email` only for an address it has confirmed
 * (the Graph API omits the field when there is no valid one), so it counts as verified. Facebook
 * has no refresh tokens: re-validation asks `/me` again with the (long-lived) token, so a person
 * who removes the app, or whom Facebook signs out, loses the session.
 */
import { createHmac } from 'node:crypto';
import type { fetch as undiciFetch } from 'undici';
import { bearerTokenOf, codeFromCallback, pkcePair, revalidateByToken } from './oauth-app.js';
import { isObject, requestJson, safeCode, type JsonAnswer, type JsonRequest } from './http-json.js';
import { secureBaseUrl } from './oidc.js';
import { verifiedEmailOrNull } from './oidc-claims.js';
import { GrantEndedError, ProviderError, type RedirectProvider, type VerifiedIdentity } from './types.js';

export interface FacebookProviderOptions {
  readonly clientId: string;
  readonly clientSecret: string;
  /** Default https://www.facebook.com (the login dialog). */
  readonly webUrl?: string;
  /** Default https://graph.facebook.com. */
  readonly graphUrl?: string;
  readonly fetch?: typeof undiciFetch;
  /** Milliseconds for each request to Facebook. Default 10 000. */
  readonly timeoutMs?: number;
}

/** The Graph API version every request names (Facebook keeps each version for at least two years). */
export const FACEBOOK_GRAPH_VERSION = 'v21.0';
export const FACEBOOK_ISSUER = 'https://www.facebook.com';
const SCOPES = 'email,public_profile';
/** Graph API error code of an expired, revoked or otherwise invalid access token. */
const INVALID_TOKEN_CODE = 190;

export function createFacebookProvider(options: FacebookProviderOptions): RedirectProvider {
  const { clientId, clientSecret } = options;
  if (!clientId) throw new Error('--facebook-client-id is required');
  if (!clientSecret) throw new Error('--facebook-client-secret-file is required');
  const webUrl = secureBaseUrl(options.webUrl ?? FACEBOOK_ISSUER, '--facebook-web-url');
  const graphUrl = `${secureBaseUrl(options.graphUrl ?? 'https://graph.facebook.com', '--facebook-graph-url')}/${FACEBOOK_GRAPH_VERSION}`;
  const timeoutMs = options.timeoutMs ?? 10_000;

  async function graph({ url, ...init }: JsonRequest & { readonly url: string }, what: string): Promise<Record<string, unknown>> {
    let answer: JsonAnswer;
    try {
      answer = await requestJson(url, init, { ...(options.fetch ? { fetch: options.fetch } : {}), timeoutMs });
    } catch {
      throw new ProviderError(`Sign-in failed: Facebook did not answer (${what})`);
    }
    const error = isObject(answer.body) && isObject(answer.body.error) ? answer.body.error : undefined;
    if (error?.code === INVALID_TOKEN_CODE || (answer.status === 401 && what === 'user')) {
      throw new GrantEndedError(`Facebook no longer accepts the access token (${safeCode(error?.type)} ${String(error?.code ?? answer.status)})`);
    }
    if (answer.status < 200 || answer.status > 299 || error) {
      throw new ProviderError(`Sign-in failed: Facebook answered HTTP ${answer.status} (${what}: ${safeCode(error?.type)})`);
    }
    if (!isObject(answer.body)) throw new ProviderError(`Sign-in failed: Facebook sent an unreadable answer (${what})`);
    return answer.body;
  }

  /** `/me` with the token in the Authorization header and the appsecret_proof Facebook recommends for server calls. */
  async function identityFor(token: string): Promise<VerifiedIdentity> {
    const proof = createHmac('sha256', clientSecret).update(token).digest('hex');
    const me = await graph({ url: `${graphUrl}/me?fields=id,name,email&appsecret_proof=${proof}`, method: 'GET', headers: { authorization: `Bearer ${token}`, accept: 'application/json' } }, 'user');
    if (typeof me.id !== 'string' || !/^\d{1,32}$/.test(me.id)) throw new ProviderError('Sign-in failed: Facebook sent an unexpected user');
    return {
      issuer: FACEBOOK_ISSUER,
      subject: me.id,
      email: verifiedEmailOrNull(me.email, true),
      name: typeof me.name === 'string' && me.name ? me.name : null,
      groups: [],
      githubOrgs: [],
      githubTeams: [],
    };
  }

  return {
    id: 'facebook',
    name: 'Facebook',
    kind: 'facebook',

    async authorizationUrl({ state, redirectUri }) {
      if (!state) throw new ProviderError('missing sign-in state');
      const { codeVerifier, codeChallenge } = pkcePair();
      const url = new URL(`${webUrl}/${FACEBOOK_GRAPH_VERSION}/dialog/oauth`);
      url.search = new URLSearchParams({
        client_id: clientId,
        redirect_uri: redirectUri,
        response_type: 'code',
        scope: SCOPES,
        state,
        code_challenge: codeChallenge,
        code_challenge_method: 'S256',
      }).toString();
      return { url, secrets: { codeVerifier } };
    },

    async complete({ callbackUrl, state, redirectUri, secrets }) {
      const { codeVerifier } = secrets;
      if (!state || !codeVerifier) throw new ProviderError('Sign-in failed: the sign-in transaction is incomplete');
      const code = codeFromCallback(callbackUrl, state, 'Facebook');

      const tokenBody = await graph({
        url: `${graphUrl}/oauth/access_token`,
        method: 'POST',
        headers: { accept: 'application/json', 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ client_id: clientId, client_secret: clientSecret, redirect_uri: redirectUri, code, code_verifier: codeVerifier }).toString(),
      }, 'token');
      const token = bearerTokenOf(tokenBody);
      if (!token) throw new ProviderError('Sign-in failed: Facebook sent no usable access token');
      return { identity: await identityFor(token), grant: { accessToken: token }, notices: [] };
    },

    revalidate: revalidateByToken('Facebook', identityFor),
  };
}
