import type { JWTVerifyGetKey } from 'jose';

/**
 * What every sign-in method produces: an identity keyed by issuer + subject. Email is an attribute
 * that counts only when the provider verified it; providers set `email` to null otherwise.
 */
export interface VerifiedIdentity {
  /** The IdP's issuer identifier (OIDC `iss`; `https://github.com` for GitHub; `<edge>/local`). */
  readonly issuer: string;
  readonly subject: string;
  /** Verified email, lower-cased; null when the provider did not vouch for one. */
  readonly email: string | null;
  readonly name: string | null;
  /** IdP groups (OIDC `groups` claim, Google Workspace directory groups), empty otherwise. */
  readonly groups: readonly string[];
  /** GitHub organisation logins (lower-cased), empty for other providers. */
  readonly githubOrgs: readonly string[];
  /** GitHub team slugs as `org/team` (lower-cased), empty for other providers. */
  readonly githubTeams: readonly string[];
}

/** Per-transaction secrets a redirect provider needs back at the callback (kept server-side). */
export interface TransactionSecrets {
  readonly codeVerifier?: string;
  readonly nonce?: string;
}

/**
 * What lets the edge ask the IdP about this sign-in again later. Credentials: the edge seals them
 * before they are stored (auth/grant-seal.ts) and never logs them.
 */
export interface ProviderGrant {
  readonly refreshToken?: string;
  /** GitHub and Facebook have no refresh tokens: their (long-lived) access token is re-used. */
  readonly accessToken?: string;
  /** For RP-initiated logout (`id_token_hint`). */
  readonly idToken?: string;
  /** The IdP's session id (`sid`), matched by back-channel logout tokens. */
  readonly sid?: string;
}

/** Something about a sign-in an operator must hear of (logged once and audited). */
export interface SignInNotice {
  readonly code: 'groups_overage';
  readonly message: string;
}

export interface SignIn {
  readonly identity: VerifiedIdentity;
  readonly grant: ProviderGrant;
  readonly notices: readonly SignInNotice[];
}

/** What the OIDC parts of the edge need of an issuer: back-channel and RP-initiated logout. */
export interface OidcIssuerInfo {
  readonly issuer: string;
  readonly clientId: string;
  readonly idTokenAlg: string;
  /** Keys from the discovered `jwks_uri`. */
  readonly keys: JWTVerifyGetKey;
  /** The discovered `end_session_endpoint` when RP-initiated logout is turned on for this issuer. */
  readonly endSessionEndpoint: string | undefined;
}

export type ProviderKind = 'oidc' | 'entra' | 'google' | 'github' | 'facebook';

/** A provider that sends the browser away and gets it back at `<edge URL>/auth/callback`. */
export interface RedirectProvider {
  /** URL-safe id used in paths, e.g. `corp-sso`, `github`. */
  readonly id: string;
  /** Shown on the login chooser. */
  readonly name: string;
  readonly kind: ProviderKind;
  /** OIDC issuers only. */
  readonly oidc?: OidcIssuerInfo;
  /** Builds the authorization URL. `state` is the single-use transaction id. */
  authorizationUrl(params: { readonly state: string; readonly redirectUri: string }): Promise<{
    readonly url: URL;
    readonly secrets: TransactionSecrets;
  }>;
  /**
   * Completes the callback: exchanges the code and validates everything (state, PKCE, nonce, iss, aud,
   * exp, alg...). Throws ProviderError on any failure; never returns a partial identity.
   */
  complete(params: {
    readonly callbackUrl: URL;
    readonly state: string;
    readonly redirectUri: string;
    readonly secrets: TransactionSecrets;
  }): Promise<SignIn>;
  /**
   * Asks the IdP again about an earlier sign-in (refresh token, or the API with the access token),
   * applying every rule sign-in applies. Throws GrantEndedError when the IdP no longer vouches for
   * the person; any other error is transient (the IdP did not answer).
   */
  revalidate(grant: ProviderGrant, previous: VerifiedIdentity): Promise<SignIn>;
}

/** A sign-in that failed at the provider or its validation. The message is safe to show. */
export class ProviderError extends Error {
  override readonly name: string = 'ProviderError';
}

/**
 * The IdP says this sign-in is over: the grant was revoked, the user disabled or deleted, or the
 * claims it now sends break the edge's rules. Sessions that came from it end.
 */
export class GrantEndedError extends ProviderError {
  override readonly name = 'GrantEndedError';
}
