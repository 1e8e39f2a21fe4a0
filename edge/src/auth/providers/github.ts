/**
 * GitHub (or GitHub Enterprise Server) sign-in: the OAuth 2 web application flow with `state` and
 * PKCE S256, then the REST API for the user, their primary verified email, organisations and teams.
 * The user is keyed by GitHub's numeric id (a login can be renamed and then taken by someone else).
 * OAuth app tokens do not expire: re-validation asks the API again with the same token, so a revoked
 * authorization ends the session and a change of orgs or teams applies.
 */
import type { fetch as undiciFetch } from 'undici';
import { bearerTokenOf, codeFromCallback, pkcePair, revalidateByToken } from './oauth-app.js';
import { isObject, requestJson, safeCode, type JsonAnswer, type JsonRequest } from './http-json.js';
import { secureBaseUrl } from './oidc.js';
import { verifiedEmailOrNull } from './oidc-claims.js';
import { GrantEndedError, ProviderError, type RedirectProvider, type VerifiedIdentity } from './types.js';

export interface GithubProviderOptions {
  readonly clientId: string;
  readonly clientSecret: string;
  /** Default https://github.com (GitHub Enterprise: https://ghe.example.com). */
  readonly webUrl?: string;
  /** Default https://api.github.com (GitHub Enterprise: https://ghe.example.com/api/v3). */
  readonly apiUrl?: string;
  readonly fetch?: typeof undiciFetch;
  /** Milliseconds for each request to GitHub. Default 10 000. */
  readonly timeoutMs?: number;
}

export const GITHUB_SCOPES = 'read:user user:email read:org';
const USER_AGENT = 'postern-edge';
const API_VERSION = '2022-11-28';
const PER_PAGE = 100;
/** At most this many pages of orgs and of teams (10 000 each). */
const MAX_PAGES = 100;

export function createGithubProvider(options: GithubProviderOptions): RedirectProvider {
  const { clientId, clientSecret } = options;
  if (!clientId) throw new Error('--github-client-id is required');
  if (!clientSecret) throw new Error('--github-client-secret-file is required');
  const webUrl = secureBaseUrl(options.webUrl ?? 'https://github.com', '--github-web-url');
  const apiUrl = secureBaseUrl(options.apiUrl ?? 'https://api.github.com', '--github-api-url');
  const timeoutMs = options.timeoutMs ?? 10_000;

  async function request(url: string, init: JsonRequest, what: string): Promise<unknown> {
    let answer: JsonAnswer;
    try {
      answer = await requestJson(url, init, { ...(options.fetch ? { fetch: options.fetch } : {}), timeoutMs });
    } catch {
      throw new ProviderError(`Sign-in failed: GitHub did not answer (${what})`);
    }
    // 401 Bad credentials: the token was revoked (the user removed the app's authorization, or GitHub did).
    if (answer.status === 401) throw new GrantEndedError(`GitHub no longer accepts the token (HTTP 401, ${what})`);
    if (answer.status < 200 || answer.status > 299) throw new ProviderError(`Sign-in failed: GitHub answered HTTP ${answer.status} (${what})`);
    if (answer.body === undefined) throw new ProviderError(`Sign-in failed: GitHub sent an unreadable answer (${what})`);
    return answer.body;
  }

  function api(token: string, path: string, what: string): Promise<unknown> {
    return request(`${apiUrl}${path}`, {
      method: 'GET',
      headers: {
        authorization: `Bearer ${token}`,
        accept: 'application/vnd.github+json',
        'x-github-api-version': API_VERSION,
        'user-agent': USER_AGENT,
      },
    }, what);
  }

  /** Page by number (never by following a Link header, which could point the token elsewhere). */
  async function pages(token: string, path: string, what: string): Promise<unknown[]> {
    const all: unknown[] = [];
    for (let page = 1; page <= MAX_PAGES; page++) {
      const body = await api(token, `${path}?per_page=${PER_PAGE}&page=${page}`, what);
      if (!Array.isArray(body)) throw new ProviderError(`Sign-in failed: GitHub sent an unexpected answer (${what})`);
      all.push(...body);
      if (body.length < PER_PAGE) return all;
    }
    return all;
  }

  /** Who the token belongs to: the user, their primary verified email, organisations and teams. */
  async function identityFor(token: string): Promise<VerifiedIdentity> {
    const user = await api(token, '/user', 'user');
    if (!isObject(user) || typeof user.id !== 'number' || !Number.isSafeInteger(user.id) || user.id <= 0) {
      throw new ProviderError('Sign-in failed: GitHub sent an unexpected user');
    }
    const [emails, orgs, teams] = await Promise.all([
      pages(token, '/user/emails', 'emails'),
      pages(token, '/user/orgs', 'organisations'),
      pages(token, '/user/teams', 'teams'),
    ]);

    const primary = emails.find((e) => isObject(e) && e.primary === true && e.verified === true);
    const identity: VerifiedIdentity = {
      issuer: webUrl,
      subject: String(user.id),
      email: isObject(primary) ? verifiedEmailOrNull(primary.email, true) : null,
      name: typeof user.name === 'string' && user.name ? user.name : null,
      groups: [],
      githubOrgs: unique(orgs.map((o) => (isObject(o) && typeof o.login === 'string' ? o.login.toLowerCase() : null))),
      githubTeams: unique(teams.map((t) => {
        if (!isObject(t) || typeof t.slug !== 'string' || !isObject(t.organization)) return null;
        const org = t.organization.login;
        return typeof org === 'string' ? `${org}/${t.slug}`.toLowerCase() : null;
      })),
    };
    return identity;
  }

  return {
    id: 'github',
    name: 'GitHub',
    kind: 'github',

    async authorizationUrl({ state, redirectUri }) {
      if (!state) throw new ProviderError('missing sign-in state');
      const { codeVerifier, codeChallenge } = pkcePair();
      const url = new URL(`${webUrl}/login/oauth/authorize`);
      url.search = new URLSearchParams({
        client_id: clientId,
        redirect_uri: redirectUri,
        scope: GITHUB_SCOPES,
        state,
        code_challenge: codeChallenge,
        code_challenge_method: 'S256',
        allow_signup: 'false',
      }).toString();
      return { url, secrets: { codeVerifier } };
    },

    async complete({ callbackUrl, state, redirectUri, secrets }) {
      const { codeVerifier } = secrets;
      if (!state || !codeVerifier) throw new ProviderError('Sign-in failed: the sign-in transaction is incomplete');
      // GitHub does not send RFC 9207 `iss`; if something does, it must be GitHub.
      const code = codeFromCallback(callbackUrl, state, 'GitHub', (params) => {
        const iss = params.get('iss');
        if (iss !== null && iss.replace(/\/+$/, '') !== webUrl) throw new ProviderError('Sign-in failed: the answer came from another issuer');
      });

      const tokenBody = await request(`${webUrl}/login/oauth/access_token`, {
        method: 'POST',
        headers: {
          accept: 'application/json',
          'content-type': 'application/x-www-form-urlencoded',
          'user-agent': USER_AGENT,
        },
        body: new URLSearchParams({
          client_id: clientId,
          client_secret: clientSecret,
          code,
          redirect_uri: redirectUri,
          code_verifier: codeVerifier,
        }).toString(),
      }, 'token');
      if (!isObject(tokenBody)) throw new ProviderError('Sign-in failed: GitHub sent an unexpected token answer');
      // GitHub reports token errors with HTTP 200 and an `error` member.
      if (tokenBody.error !== undefined) throw new ProviderError(`Sign-in failed: GitHub refused the code (${safeCode(tokenBody.error)})`);
      const token = bearerTokenOf(tokenBody);
      if (!token) throw new ProviderError('Sign-in failed: GitHub sent no usable access token');

      return { identity: await identityFor(token), grant: { accessToken: token }, notices: [] };
    },

    revalidate: revalidateByToken('GitHub', identityFor),
  };
}



function unique(values: readonly (string | null)[]): string[] {
  return [...new Set(values.filter((v): v is string => v !== null && v.length > 0))];
}
