/**
 * GitHub (or GitHub Enterprise Server) sign-in: the OAuth 2 web application flow with `state` and
 * PKCE S256, then the REST API for the user, their primary verified email, organisations and teams.
 * The user is keyed by GitHub's numeric id (a login can be renamed and then taken by someone else).
 */
import { createHash, randomBytes } from 'node:crypto';
import { fetch as undiciFetch } from 'undici';
import { parseSecureUrl, verifiedEmailOrNull } from './oidc.js';
import { ProviderError, type RedirectProvider, type VerifiedIdentity } from './types.js';

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
/** A JSON answer larger than this is refused (bound memory whatever the server sends). */
const MAX_RESPONSE_BYTES = 1024 * 1024;
const PER_PAGE = 100;
/** At most this many pages of orgs and of teams (10 000 each). */
const MAX_PAGES = 100;

export function createGithubProvider(options: GithubProviderOptions): RedirectProvider {
  const { clientId, clientSecret } = options;
  if (!clientId) throw new Error('--github-client-id is required');
  if (!clientSecret) throw new Error('--github-client-secret is required');
  const webUrl = baseUrl(options.webUrl ?? 'https://github.com', '--github-web-url');
  const apiUrl = baseUrl(options.apiUrl ?? 'https://api.github.com', '--github-api-url');
  const doFetch = options.fetch ?? undiciFetch;
  const timeoutMs = options.timeoutMs ?? 10_000;

  async function request(url: string, init: { method: 'GET' | 'POST'; headers: Record<string, string>; body?: string }, what: string): Promise<unknown> {
    let res: Awaited<ReturnType<typeof undiciFetch>>;
    try {
      res = await doFetch(url, { ...init, redirect: 'error', signal: AbortSignal.timeout(timeoutMs) });
    } catch {
      throw new ProviderError(`Sign-in failed: GitHub did not answer (${what})`);
    }
    if (res.status < 200 || res.status > 299) {
      await res.body?.cancel().catch(() => undefined);
      throw new ProviderError(`Sign-in failed: GitHub answered HTTP ${res.status} (${what})`);
    }
    try {
      return JSON.parse(await readLimited(res.body, MAX_RESPONSE_BYTES)) as unknown;
    } catch {
      throw new ProviderError(`Sign-in failed: GitHub sent an unreadable answer (${what})`);
    }
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

  return {
    id: 'github',
    name: 'GitHub',
    kind: 'github',

    async authorizationUrl({ state, redirectUri }) {
      if (!state) throw new ProviderError('missing sign-in state');
      const codeVerifier = randomBytes(32).toString('base64url');
      const url = new URL(`${webUrl}/login/oauth/authorize`);
      url.search = new URLSearchParams({
        client_id: clientId,
        redirect_uri: redirectUri,
        scope: GITHUB_SCOPES,
        state,
        code_challenge: s256(codeVerifier),
        code_challenge_method: 'S256',
        allow_signup: 'false',
      }).toString();
      return { url, secrets: { codeVerifier } };
    },

    async complete({ callbackUrl, state, redirectUri, secrets }) {
      const { codeVerifier } = secrets;
      if (!state || !codeVerifier) throw new ProviderError('Sign-in failed: the sign-in transaction is incomplete');
      const params = callbackUrl.searchParams;
      for (const name of ['state', 'code', 'error', 'iss']) {
        if (params.getAll(name).length > 1) throw new ProviderError(`Sign-in failed: repeated "${name}" in the callback`);
      }
      if (params.get('state') !== state) throw new ProviderError('Sign-in failed: the sign-in state does not match');
      // GitHub does not send RFC 9207 `iss`; if something does, it must be GitHub.
      const iss = params.get('iss');
      if (iss !== null && iss.replace(/\/+$/, '') !== webUrl) throw new ProviderError('Sign-in failed: the answer came from another issuer');
      const error = params.get('error');
      if (error !== null) throw new ProviderError(`Sign-in failed: GitHub answered ${errorCode(error)}`);
      const code = params.get('code');
      if (!code) throw new ProviderError('Sign-in failed: GitHub sent no code');

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
      if (tokenBody.error !== undefined) throw new ProviderError(`Sign-in failed: GitHub refused the code (${errorCode(tokenBody.error)})`);
      const token = tokenBody.access_token;
      if (typeof token !== 'string' || !token || typeof tokenBody.token_type !== 'string' || tokenBody.token_type.toLowerCase() !== 'bearer') {
        throw new ProviderError('Sign-in failed: GitHub sent no usable access token');
      }

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
    },
  };
}

/** A normalised base URL without a trailing slash: https, or http on loopback (tests, dev). */
function baseUrl(raw: string, what: string): string {
  const { url } = parseSecureUrl(raw, what);
  return url.href.replace(/\/+$/, '');
}

function s256(verifier: string): string {
  return createHash('sha256').update(verifier).digest('base64url');
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function unique(values: readonly (string | null)[]): string[] {
  return [...new Set(values.filter((v): v is string => v !== null && v.length > 0))];
}

function errorCode(value: unknown): string {
  return typeof value === 'string' && /^[a-z0-9_.-]{1,64}$/i.test(value) ? value : 'an error';
}

async function readLimited(body: ReadableStream<Uint8Array> | null, limit: number): Promise<string> {
  if (!body) return '';
  const reader = body.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.byteLength;
    if (size > limit) {
      await reader.cancel().catch(() => undefined);
      throw new Error('response too large');
    }
    chunks.push(value);
  }
  return Buffer.concat(chunks).toString('utf8');
}
