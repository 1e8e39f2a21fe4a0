/**
 * A generic OpenID Connect provider (OIDC Core §3.1, RFC 9700): authorization code + PKCE S256 +
 * `state` + `nonce`, exact issuer match, RFC 9207 `iss`, a pinned ID token `alg`, keys only from the
 * discovered `jwks_uri`. All protocol validation is done by openid-client; this module decides what
 * an identity is and turns every failure into a short, token-free ProviderError.
 */
import { isIP } from 'node:net';
import * as client from 'openid-client';
import { normalizeEmail } from '@postern/shared/policy';
import { ProviderError, type RedirectProvider, type TransactionSecrets, type VerifiedIdentity } from './types.js';

export interface OidcProviderOptions {
  readonly id: string;
  readonly name: string;
  /** The issuer identifier, compared exactly with the discovered `issuer` and every ID token's `iss`. */
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** The one algorithm ID tokens may be signed with. Default RS256. Asymmetric algorithms only. */
  readonly idTokenAlg?: string;
  /** Default `openid email profile`; `openid` is always included. */
  readonly scopes?: readonly string[];
  /** Called (once) when a plain-http loopback issuer is accepted. */
  readonly logWarning?: (msg: string) => void;
  /** Seconds for each request to the IdP (discovery, token, JWKS, userinfo). Default 10. */
  readonly timeoutSeconds?: number;
}

/** Algorithms whose keys come from the IdP's JWKS; `none` and HMAC (client-secret keys) are refused. */
const ASYMMETRIC_ALGS: ReadonlySet<string> = new Set([
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'Ed25519', 'EdDSA',
]);

const DEFAULT_SCOPES = ['openid', 'email', 'profile'] as const;
const MAX_SUBJECT_LENGTH = 255;
const MAX_GROUPS = 1000;

/** 127.0.0.0/8, ::1, `localhost` and `*.localhost` (RFC 6761). `hostname` as URL gives it. */
export function isLoopbackHostname(hostname: string): boolean {
  const host = hostname.toLowerCase().replace(/^\[(.*)\]$/, '$1');
  if (host === 'localhost' || host.endsWith('.localhost')) return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  if (isIP(host) === 6) return host === '::1';
  return false;
}

/**
 * Parses an issuer / endpoint base URL: https anywhere, http only on a loopback host. Returns the URL
 * and whether it is the plain-http loopback exception. `what` names the setting in error messages.
 */
export function parseSecureUrl(raw: string, what: string): { url: URL; insecureLoopback: boolean } {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new Error(`${what} is not a valid URL: ${JSON.stringify(raw)}`);
  }
  if (url.username || url.password) throw new Error(`${what} must not contain credentials`);
  if (url.search || url.hash || raw.includes('?') || raw.includes('#')) {
    throw new Error(`${what} must not have a query or fragment`);
  }
  if (url.protocol === 'https:') return { url, insecureLoopback: false };
  if (url.protocol === 'http:' && isLoopbackHostname(url.hostname)) return { url, insecureLoopback: true };
  throw new Error(`${what} must be https:// (http only for loopback)`);
}

/** Exactly one `@`, printable ASCII, lower-cased, no trailing dot; null otherwise (policy/email.ts). */
export function verifiedEmailOrNull(email: unknown, verified: boolean): string | null {
  if (!verified || typeof email !== 'string') return null;
  return normalizeEmail(email);
}

export async function createOidcProvider(options: OidcProviderOptions): Promise<RedirectProvider> {
  const { id, name, clientId, clientSecret, logWarning } = options;
  const alg = options.idTokenAlg ?? 'RS256';
  if (!ASYMMETRIC_ALGS.has(alg)) {
    throw new Error(`--oidc-id-token-alg ${JSON.stringify(alg)} is not supported (use one of ${[...ASYMMETRIC_ALGS].join(', ')})`);
  }
  if (!clientId) throw new Error('--oidc-client-id is required');
  if (!clientSecret) throw new Error('--oidc-client-secret is required');
  const scope = scopeString(options.scopes ?? DEFAULT_SCOPES);
  const timeout = options.timeoutSeconds ?? 10;

  const { url: issuerUrl, insecureLoopback } = parseSecureUrl(options.issuer, '--oidc-issuer');
  if (issuerUrl.pathname.includes('/.well-known/')) {
    throw new Error('--oidc-issuer must be the issuer identifier, not a .well-known URL');
  }
  if (insecureLoopback) {
    logWarning?.(`OIDC issuer ${issuerUrl.href} uses plain http; accepted only because it is a loopback address`);
  }

  // client_secret_basic is the registration default (OIDC Registration §2); post only when the IdP
  // supports nothing else. Decided per request from the discovered metadata.
  const basic = client.ClientSecretBasic(clientSecret);
  const post = client.ClientSecretPost(clientSecret);
  const auth: client.ClientAuth = (as, c, body, headers) => {
    const methods = as.token_endpoint_auth_methods_supported;
    const usePost = Array.isArray(methods) && !methods.includes('client_secret_basic') && methods.includes('client_secret_post');
    (usePost ? post : basic)(as, c, body, headers);
  };

  let config: client.Configuration;
  try {
    config = await client.discovery(
      issuerUrl,
      clientId,
      { id_token_signed_response_alg: alg, response_types: ['code'] },
      auth,
      {
        algorithm: 'oidc',
        timeout,
        // Verify ID token signatures against the discovered JWKS even though they come from the
        // token endpoint: on the loopback http exception there is not even TLS vouching for it.
        execute: insecureLoopback ? [client.allowInsecureRequests, client.enableNonRepudiationChecks] : [client.enableNonRepudiationChecks],
      },
    );
  } catch (err) {
    throw new Error(`issuer ${options.issuer} did not answer OpenID discovery: ${describeDiscoveryError(err)}`, { cause: err });
  }

  const metadata = config.serverMetadata();
  // openid-client compares normalised URLs and has special cases (Entra ID, B2C) that accept another
  // issuer; we accept none. Every ID token's `iss` is then compared with metadata.issuer exactly.
  if (new URL(metadata.issuer).href !== issuerUrl.href) {
    throw new Error(`issuer ${options.issuer} did not answer OpenID discovery: it calls itself ${JSON.stringify(metadata.issuer)}`);
  }
  const issuer = metadata.issuer;
  for (const [field, value] of [
    ['authorization_endpoint', metadata.authorization_endpoint],
    ['token_endpoint', metadata.token_endpoint],
    ['jwks_uri', metadata.jwks_uri],
    ['userinfo_endpoint', metadata.userinfo_endpoint],
  ] as const) {
    if (value === undefined && field === 'userinfo_endpoint') continue;
    if (typeof value !== 'string') throw new Error(`issuer ${issuer} discovery has no ${field}`);
    const endpoint = parseSecureUrl(value, `issuer ${issuer} ${field}`);
    if (endpoint.insecureLoopback && !insecureLoopback) throw new Error(`issuer ${issuer} ${field} must be https://`);
  }
  const advertised = metadata.id_token_signing_alg_values_supported;
  if (Array.isArray(advertised) && !advertised.includes(alg)) {
    throw new Error(`issuer ${issuer} does not sign ID tokens with ${alg} (it advertises ${advertised.join(', ')})`);
  }
  const hasUserinfo = typeof metadata.userinfo_endpoint === 'string';

  return {
    id,
    name,
    kind: 'oidc',

    async authorizationUrl({ state, redirectUri }) {
      if (!state) throw new ProviderError('missing sign-in state');
      const codeVerifier = client.randomPKCECodeVerifier();
      const nonce = client.randomNonce();
      const url = client.buildAuthorizationUrl(config, {
        response_type: 'code',
        redirect_uri: redirectUri,
        scope,
        state,
        nonce,
        code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
        code_challenge_method: 'S256',
      });
      const secrets: TransactionSecrets = { codeVerifier, nonce };
      return { url, secrets };
    },

    async complete({ callbackUrl, state, redirectUri, secrets }) {
      const { codeVerifier, nonce } = secrets;
      if (!state || !codeVerifier || !nonce) throw new ProviderError('Sign-in failed: the sign-in transaction is incomplete');
      let currentUrl: URL;
      try {
        currentUrl = callbackAt(redirectUri, callbackUrl);
      } catch {
        throw new ProviderError('Sign-in failed: bad callback address');
      }
      let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
      try {
        tokens = await client.authorizationCodeGrant(config, currentUrl, {
          pkceCodeVerifier: codeVerifier,
          expectedState: state,
          expectedNonce: nonce,
          idTokenExpected: true,
        });
      } catch (err) {
        throw toProviderError(err);
      }
      const claims = tokens.claims();
      if (!claims || typeof claims.sub !== 'string' || !claims.sub || claims.sub.length > MAX_SUBJECT_LENGTH) {
        throw new ProviderError('Sign-in failed: the identity provider sent no usable subject');
      }
      // Conformant IdPs put scope claims in UserInfo rather than the ID token (OIDC Core §5.4).
      // fetchUserInfo checks that the UserInfo `sub` equals the ID token's.
      let info: Record<string, unknown> = {};
      if (claims.email === undefined && hasUserinfo && tokens.access_token) {
        try {
          info = await client.fetchUserInfo(config, tokens.access_token, claims.sub);
        } catch (err) {
          throw toProviderError(err);
        }
      }
      const emailSource: Record<string, unknown> = claims.email !== undefined ? claims : info;
      const identity: VerifiedIdentity = {
        issuer: claims.iss,
        subject: claims.sub,
        email: verifiedEmailOrNull(emailSource.email, emailSource.email_verified === true),
        name: stringOrNull(claims.name ?? info.name),
        groups: stringArray(claims.groups ?? info.groups),
        githubOrgs: [],
        githubTeams: [],
      };
      return identity;
    },
  };
}

function scopeString(scopes: readonly string[]): string {
  const set = new Set(['openid']);
  for (const s of scopes) {
    if (!/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(s)) throw new Error(`--oidc-scopes: invalid scope ${JSON.stringify(s)}`);
    set.add(s);
  }
  return [...set].join(' ');
}

/**
 * The URL openid-client validates: our registered redirect URI (it becomes the token request's
 * `redirect_uri`) with the callback's query, whatever host or scheme the request arrived with.
 */
function callbackAt(redirectUri: string, callbackUrl: URL): URL {
  const url = new URL(redirectUri);
  if (url.search || url.hash) throw new Error('redirect URI must not have a query');
  url.search = callbackUrl.search;
  return url;
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' && value.length > 0 ? value : null;
}

function stringArray(value: unknown): string[] {
  if (!Array.isArray(value) || value.length > MAX_GROUPS) return [];
  return value.every((v): v is string => typeof v === 'string') ? [...value] : [];
}

/** A printable, bounded copy of a library message or an OAuth error code (never a token). */
function safeText(value: unknown, max = 160): string {
  return typeof value === 'string' ? value.replace(/[^\x20-\x7e]/g, '?').slice(0, max) : '';
}

function errorCode(value: unknown): string {
  return typeof value === 'string' && /^[\x20-\x21\x23-\x5b\x5d-\x7e]{1,64}$/.test(value) ? value : 'unknown_error';
}

function toProviderError(err: unknown): ProviderError {
  if (err instanceof ProviderError) return err;
  if (err instanceof client.AuthorizationResponseError) {
    return new ProviderError(`Sign-in failed: the identity provider answered ${errorCode(err.error)}`);
  }
  if (err instanceof client.ResponseBodyError) {
    return new ProviderError(`Sign-in failed: the identity provider refused the code (${errorCode(err.error)})`);
  }
  if (err instanceof client.WWWAuthenticateChallengeError) {
    return new ProviderError('Sign-in failed: the identity provider refused the access token');
  }
  if (err instanceof client.ClientError) {
    // openid-client / oauth4webapi messages are fixed strings; the values they compared live in `cause`.
    const detail = err.cause instanceof Error && err.cause.message !== err.message ? `: ${safeText(err.cause.message)}` : '';
    return new ProviderError(`Sign-in failed: ${safeText(err.message)}${detail}`);
  }
  return new ProviderError('Sign-in failed: could not complete the exchange with the identity provider');
}

function describeDiscoveryError(err: unknown): string {
  if (!(err instanceof Error)) return 'unknown error';
  const cause: unknown = err.cause;
  let detail = '';
  if (cause instanceof Response) detail = `HTTP ${cause.status}`;
  else if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    detail = typeof code === 'string' ? code : safeText(cause.message);
  }
  return detail ? `${safeText(err.message)} (${detail})` : safeText(err.message);
}
