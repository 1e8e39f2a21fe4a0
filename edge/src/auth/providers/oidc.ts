/**
 * A generic OpenID Connect provider (OIDC Core §3.1, RFC 9700): authorization code + PKCE S256 +
 * `state` + `nonce`, exact issuer match, RFC 9207 `iss`, a pinned ID token `alg`, keys only from the
 * discovered `jwks_uri`. All protocol validation is done by openid-client; this module decides what
 * an identity is and turns every failure into a short, token-free ProviderError.
 */
import { isIP } from 'node:net';
import { createRemoteJWKSet } from 'jose';
import * as client from 'openid-client';
import { acceptsEntraTemplate } from './entra.js';
import { needsUserinfo, readClaims, type ClaimRules } from './oidc-claims.js';
import {
  GrantEndedError,
  ProviderError,
  type ProviderGrant,
  type RedirectProvider,
  type SignInNotice,
  type TransactionSecrets,
  type VerifiedIdentity,
} from './types.js';

export interface OidcProviderOptions {
  readonly id: string;
  readonly name: string;
  /** `oidc` (default): any issuer; `entra`: Microsoft Entra ID; `google`: Google. */
  readonly kind?: 'oidc' | 'entra' | 'google';
  /** The issuer identifier, compared exactly with the discovered `issuer` and every ID token's `iss`. */
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  /** The one algorithm ID tokens may be signed with. Default RS256. Asymmetric algorithms only. */
  readonly idTokenAlg?: string;
  /** Scopes besides `openid email profile`; `offline_access` is added when the IdP advertises it. */
  readonly scopes?: readonly string[];
  /** How claims become an identity (email and groups claims, trust, tenants, hosted domain, MFA). */
  readonly claims?: Partial<Omit<ClaimRules, 'kind' | 'providerName'>>;
  /** Extra authorization request parameters (Google: `access_type=offline`, `prompt=consent`, `hd`). */
  readonly authorizationParams?: Readonly<Record<string, string>>;
  /** Groups kept elsewhere (the Google Workspace directory), merged with the token's. */
  readonly groupsSource?: GroupsSource;
  /** Offer RP-initiated logout (needs the issuer's `end_session_endpoint`). */
  readonly rpLogout?: boolean;
  /** Called (once) when a plain-http loopback issuer is accepted. */
  readonly logWarning?: (msg: string) => void;
  /** Seconds for each request to the IdP (discovery, token, JWKS, userinfo). Default 10. */
  readonly timeoutSeconds?: number;
}

/**
 * Groups of a person by verified email; `fresh` skips any cache (sign-in). Throws, with a message
 * safe to show, when it cannot say.
 */
export interface GroupsSource {
  groupsOf(email: string, fresh: boolean): Promise<readonly string[]>;
}

/** Algorithms whose keys come from the IdP's JWKS; `none` and HMAC (client-secret keys) are refused. */
const ASYMMETRIC_ALGS: ReadonlySet<string> = new Set([
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'Ed25519', 'EdDSA',
]);

const DEFAULT_SCOPES = ['openid', 'email', 'profile'] as const;
const MAX_SUBJECT_LENGTH = 255;

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

/** A normalised base URL without a trailing slash: https, or http on loopback (tests, dev). */
export function secureBaseUrl(raw: string, what: string): string {
  return parseSecureUrl(raw, what).url.href.replace(/\/+$/, '');
}

export async function createOidcProvider(options: OidcProviderOptions): Promise<RedirectProvider> {
  const { id, name, clientId, clientSecret, logWarning } = options;
  const kind = options.kind ?? 'oidc';
  const alg = options.idTokenAlg ?? 'RS256';
  if (!ASYMMETRIC_ALGS.has(alg)) {
    throw new Error(`--oidc-id-token-alg ${JSON.stringify(alg)} is not supported (use one of ${[...ASYMMETRIC_ALGS].join(', ')})`);
  }
  if (!clientId) throw new Error('--oidc-client-id is required');
  if (!clientSecret) throw new Error('--oidc-client-secret-file is required');
  const timeout = options.timeoutSeconds ?? 10;
  const rules: ClaimRules = {
    kind,
    providerName: name,
    emailClaim: options.claims?.emailClaim ?? 'email',
    groupsClaim: options.claims?.groupsClaim ?? 'groups',
    trustEmail: options.claims?.trustEmail ?? false,
    requireMfa: options.claims?.requireMfa ?? false,
    tenants: options.claims?.tenants ?? [],
    hostedDomain: options.claims?.hostedDomain,
  };
  if (kind === 'entra' && rules.tenants.length === 0) throw new Error('an Entra ID issuer needs --oidc-tenants');

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
  // issuer; we accept only Entra's multi-tenant template, and only for an Entra issuer whose tokens
  // are pinned to tenants. Every ID token's `iss` is then compared with metadata.issuer exactly.
  const template = kind === 'entra' && acceptsEntraTemplate(issuerUrl, metadata.issuer);
  if (!template && new URL(metadata.issuer).href !== issuerUrl.href) {
    throw new Error(`issuer ${options.issuer} did not answer OpenID discovery: it calls itself ${JSON.stringify(metadata.issuer)}`);
  }
  const issuer = template ? issuerUrl.href : metadata.issuer;
  for (const [field, value] of [
    ['authorization_endpoint', metadata.authorization_endpoint],
    ['token_endpoint', metadata.token_endpoint],
    ['jwks_uri', metadata.jwks_uri],
    ['userinfo_endpoint', metadata.userinfo_endpoint],
    ['end_session_endpoint', metadata.end_session_endpoint],
  ] as const) {
    if (value === undefined && (field === 'userinfo_endpoint' || field === 'end_session_endpoint')) continue;
    if (typeof value !== 'string') throw new Error(`issuer ${issuer} discovery has no ${field}`);
    const endpoint = parseSecureUrl(value, `issuer ${issuer} ${field}`);
    if (endpoint.insecureLoopback && !insecureLoopback) throw new Error(`issuer ${issuer} ${field} must be https://`);
  }
  const advertised = metadata.id_token_signing_alg_values_supported;
  if (Array.isArray(advertised) && !advertised.includes(alg)) {
    throw new Error(`issuer ${issuer} does not sign ID tokens with ${alg} (it advertises ${advertised.join(', ')})`);
  }
  if (options.rpLogout && !metadata.end_session_endpoint) {
    throw new Error(`issuer ${issuer} does not offer RP-initiated logout (its discovery has no end_session_endpoint): remove --oidc-rp-logout`);
  }
  const hasUserinfo = typeof metadata.userinfo_endpoint === 'string';
  // A refresh token is what lets sessions follow the IdP; most IdPs issue one only for offline_access.
  const offline = Array.isArray(metadata.scopes_supported) && metadata.scopes_supported.includes('offline_access');
  const scope = scopeString([...DEFAULT_SCOPES, ...(options.scopes ?? []), ...(offline ? ['offline_access'] : [])]);
  const keys = createRemoteJWKSet(new URL(metadata.jwks_uri!), { timeoutDuration: timeout * 1000 });

  /** The identity the claims (and UserInfo, when they lack something) describe, by the issuer's rules. */
  async function identityFrom(claims: client.IDToken, accessToken: string | undefined, signingIn: boolean): Promise<{ identity: VerifiedIdentity; notices: SignInNotice[] }> {
    if (typeof claims.sub !== 'string' || !claims.sub || claims.sub.length > MAX_SUBJECT_LENGTH) {
      throw new ProviderError('Sign-in failed: the identity provider sent no usable subject');
    }
    // Conformant IdPs put scope claims in UserInfo rather than the ID token (OIDC Core §5.4).
    // fetchUserInfo checks that the UserInfo `sub` equals the ID token's.
    let info: Record<string, unknown> = {};
    if (needsUserinfo(claims, rules) && hasUserinfo && accessToken) {
      try {
        info = await client.fetchUserInfo(config, accessToken, claims.sub);
      } catch (err) {
        throw toProviderError(err);
      }
    }
    let reading;
    try {
      reading = readClaims(claims, info, rules, { signingIn });
    } catch (err) {
      if (err instanceof ProviderError) throw new ProviderError(`Sign-in refused: ${err.message}`);
      throw err;
    }
    let groups = reading.groups;
    if (options.groupsSource && reading.email) {
      let more: readonly string[];
      try {
        more = await options.groupsSource.groupsOf(reading.email, signingIn);
      } catch (err) {
        // At sign-in the person sees why; a re-validation retries (the IdP itself still vouches).
        if (signingIn) throw new ProviderError(`Sign-in failed: ${(err as Error).message}`);
        throw err;
      }
      groups = [...new Set([...groups, ...more])];
    }
    const identity: VerifiedIdentity = {
      issuer: claims.iss,
      subject: claims.sub,
      email: reading.email,
      name: reading.name,
      groups,
      githubOrgs: [],
      githubTeams: [],
    };
    return { identity, notices: reading.notices };
  }

  const grantOf = (tokens: client.TokenEndpointResponse, claims: client.IDToken | undefined, previous?: ProviderGrant): ProviderGrant => {
    const refreshToken = tokens.refresh_token ?? previous?.refreshToken;
    const idToken = tokens.id_token ?? previous?.idToken;
    const sid = typeof claims?.sid === 'string' && claims.sid ? claims.sid : previous?.sid;
    return { ...(refreshToken ? { refreshToken } : {}), ...(idToken ? { idToken } : {}), ...(sid ? { sid } : {}) };
  };

  return {
    id,
    name,
    kind,
    oidc: {
      issuer,
      clientId,
      idTokenAlg: alg,
      keys,
      endSessionEndpoint: options.rpLogout ? metadata.end_session_endpoint : undefined,
    },

    async authorizationUrl({ state, redirectUri }) {
      if (!state) throw new ProviderError('missing sign-in state');
      const codeVerifier = client.randomPKCECodeVerifier();
      const nonce = client.randomNonce();
      const url = client.buildAuthorizationUrl(config, {
        ...options.authorizationParams,
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
      if (!claims) throw new ProviderError('Sign-in failed: the identity provider sent no ID token');
      const { identity, notices } = await identityFrom(claims, tokens.access_token, true);
      return { identity, grant: grantOf(tokens, claims), notices };
    },

    async revalidate(grant, previous) {
      if (!grant.refreshToken) throw new Error('no refresh token to re-validate with');
      let tokens: Awaited<ReturnType<typeof client.refreshTokenGrant>>;
      try {
        tokens = await client.refreshTokenGrant(config, grant.refreshToken);
      } catch (err) {
        // invalid_grant: the refresh token was revoked, expired, or its user disabled or deleted.
        if (err instanceof client.ResponseBodyError && err.error === 'invalid_grant') {
          throw new GrantEndedError(`${name} refused the refresh token (invalid_grant)`);
        }
        throw toProviderError(err);
      }
      const claims = tokens.claims();
      // OIDC Core §12.2: a refreshed ID token names the same issuer and subject.
      if (claims && (claims.iss !== previous.issuer || claims.sub !== previous.subject)) {
        throw new GrantEndedError(`${name} answered the refresh with another user's ID token`);
      }
      const current = claims ?? ({ iss: previous.issuer, sub: previous.subject, aud: clientId, iat: 0, exp: 0 } satisfies client.IDToken);
      let read;
      try {
        read = await identityFrom(current, tokens.access_token, false);
      } catch (err) {
        // A rule that refuses the person now (tenant, hosted domain) ends the session; failures reaching UserInfo do not.
        if (err instanceof ProviderError && err.message.startsWith('Sign-in refused')) throw new GrantEndedError(err.message);
        throw err;
      }
      return { identity: read.identity, grant: grantOf(tokens, claims, grant), notices: read.notices };
    },
  };
}

function scopeString(scopes: readonly string[]): string {
  const set = new Set(['openid']);
  for (const s of scopes) {
    if (!/^[\x21\x23-\x5b\x5d-\x7e]+$/.test(s)) throw new Error(`--oidc-scopes has an invalid scope ${JSON.stringify(s)}`);
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
