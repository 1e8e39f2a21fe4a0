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
  /** IdP `groups` claim values (OIDC), empty otherwise. */
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

/** A provider that sends the browser away and gets it back at `<edge URL>/auth/callback`. */
export interface RedirectProvider {
  /** URL-safe id used in paths, e.g. `corp-sso`, `github`. */
  readonly id: string;
  /** Shown on the login chooser. */
  readonly name: string;
  readonly kind: 'oidc' | 'github';
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
  }): Promise<VerifiedIdentity>;
}

/** A sign-in that failed at the provider or its validation. The message is safe to show. */
export class ProviderError extends Error {
  override readonly name = 'ProviderError';
}
