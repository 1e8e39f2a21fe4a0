/**
 * Microsoft Entra ID (Azure AD) specifics. Entra never sends `email_verified`, and a tenant's admin
 * can set any user's `email` (the 2023 "nOAuth" takeover class), so an Entra email counts only with
 * `xms_edov` (email domain owner verified), and only tokens of the pinned tenants (`tid`) sign in.
 */

const ENTRA_ORIGIN = 'https://login.microsoftonline.com';
/** What Entra's multi-tenant discovery documents (common, organizations) call themselves. */
export const ENTRA_TEMPLATE_ISSUER = `${ENTRA_ORIGIN}/{tenantid}/v2.0`;

/**
 * Whether `discovered` may stand for the configured multi-tenant issuer: `/organizations/v2.0` and
 * `/common/v2.0` answer with a `{tenantid}` template. openid-client then expects each ID token's
 * `iss` to be the template with the token's own `tid`; the tenant pin (tenantAllowed) does the rest.
 */
export function acceptsEntraTemplate(configured: URL, discovered: string): boolean {
  return configured.origin === ENTRA_ORIGIN && /^\/(common|organizations)\/v2\.0\/?$/.test(configured.pathname) && discovered === ENTRA_TEMPLATE_ISSUER;
}

/** The token's tenant, lower-cased, when it is one of `tenants`; undefined otherwise. */
export function tenantAllowed(claims: Record<string, unknown>, tenants: readonly string[]): string | undefined {
  const tid = typeof claims.tid === 'string' ? claims.tid.toLowerCase() : undefined;
  return tid !== undefined && tenants.includes(tid) ? tid : undefined;
}

/** `xms_edov` as Entra sends it: JSON `true` (seen as `1` or `"true"`/`"1"` in some token versions). */
export function emailDomainOwnerVerified(claims: Record<string, unknown>): boolean {
  const v = claims.xms_edov;
  return v === true || v === 1 || v === 'true' || v === '1';
}

/**
 * Groups overage: with more groups than a token can carry (200 in a JWT), Entra leaves `groups` out
 * and points at Microsoft Graph instead (`_claim_names` / `_claim_sources`, or `hasgroups`). Any
 * IdP may use these OIDC distributed claims; the edge does not follow them (the pointer is a Graph
 * URL needing another token), it says so.
 */
export function groupsOverage(claims: Record<string, unknown>, groupsClaim: string): boolean {
  const names = claims._claim_names;
  const named = typeof names === 'object' && names !== null && !Array.isArray(names) && (groupsClaim in names || 'groups' in names);
  return named || claims.hasgroups === true || claims.hasgroups === 'true';
}
