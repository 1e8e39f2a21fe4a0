/**
 * From an issuer's claims to what the edge believes: the verified email, name and groups, and the
 * per-issuer rules that refuse a sign-in (Entra tenant pin, Google hosted domain, MFA). Pure: the same
 * claims and rules always give the same answer; sign-in and every re-validation both come here.
 */
import { normalizeEmail } from '@postern/shared/policy';
import { emailDomainOwnerVerified, groupsOverage, tenantAllowed } from './entra.js';
import { ProviderError, type SignInNotice } from './types.js';

export type Claims = Readonly<Record<string, unknown>>;

export interface ClaimRules {
  /** `oidc`: generic; `entra`: tenant pin and xms_edov; `google`: hosted domain. */
  readonly kind: 'oidc' | 'entra' | 'google';
  readonly providerName: string;
  readonly emailClaim: string;
  readonly groupsClaim: string;
  readonly trustEmail: boolean;
  readonly requireMfa: boolean;
  readonly tenants: readonly string[];
  readonly hostedDomain: string | undefined;
}

export interface ClaimsReading {
  readonly email: string | null;
  readonly name: string | null;
  readonly groups: string[];
  readonly notices: SignInNotice[];
}

const MAX_GROUPS = 1000;

/** Exactly one `@`, printable ASCII, lower-cased, no trailing dot; null otherwise (policy/email.ts). */
export function verifiedEmailOrNull(email: unknown, verified: boolean): string | null {
  if (!verified || typeof email !== 'string') return null;
  return normalizeEmail(email);
}

/** Whether the claims leave something the reader needs for UserInfo (OIDC Core §5.4). */
export function needsUserinfo(idToken: Claims, rules: ClaimRules): boolean {
  // Entra's UserInfo is Microsoft Graph's and holds neither groups nor xms_edov; Google's has no groups.
  if (rules.kind === 'entra') return false;
  if (idToken[rules.emailClaim] === undefined) return true;
  return rules.kind === 'oidc' && idToken[rules.groupsClaim] === undefined;
}

/**
 * Reads one sign-in's claims: the ID token's, completed by UserInfo. An email and the claim that
 * verifies it always come from the same source. Throws ProviderError when a rule refuses the person.
 * MFA is a property of how the person signed in, so a re-validation (`signingIn` false) does not
 * ask for it again: refreshed ID tokens often carry no `amr`.
 */
export function readClaims(idToken: Claims, userinfo: Claims, rules: ClaimRules, context: { readonly signingIn: boolean }): ClaimsReading {
  refuseByRules(idToken, rules, context.signingIn);
  const emailSource = idToken[rules.emailClaim] !== undefined ? idToken : userinfo;
  const verified =
    rules.kind === 'entra'
      ? emailDomainOwnerVerified(emailSource) || emailSource.email_verified === true
      : emailSource.email_verified === true || rules.trustEmail;
  const notices: SignInNotice[] = [];
  const rawGroups = idToken[rules.groupsClaim] ?? userinfo[rules.groupsClaim];
  if (rawGroups === undefined && (groupsOverage(idToken, rules.groupsClaim) || groupsOverage(userinfo, rules.groupsClaim))) {
    notices.push({
      code: 'groups_overage',
      message:
        rules.kind === 'entra'
          ? `${rules.providerName} left the groups out of the token (groups overage: the user is in more groups than a token carries), so group rules cannot match this user. In the app registration's token configuration, emit only "Groups assigned to the application".`
          : `${rules.providerName} sent the "${rules.groupsClaim}" claim as a distributed claim (_claim_names), which the edge does not fetch, so group rules cannot match this user.`,
    });
  }
  return {
    email: verifiedEmailOrNull(emailSource[rules.emailClaim], verified),
    name: stringOrNull(idToken.name ?? userinfo.name),
    groups: stringArray(rawGroups),
    notices,
  };
}

function refuseByRules(claims: Claims, rules: ClaimRules, signingIn: boolean): void {
  if (rules.kind === 'entra' && tenantAllowed(claims, rules.tenants) === undefined) {
    const tid = typeof claims.tid === 'string' ? ` (${safe(claims.tid)})` : '';
    throw new ProviderError(`your account belongs to a Microsoft Entra tenant${tid} that this edge does not accept`);
  }
  if (rules.kind === 'google' && rules.hostedDomain !== undefined) {
    const hd = typeof claims.hd === 'string' ? claims.hd.toLowerCase() : undefined;
    if (hd !== rules.hostedDomain) throw new ProviderError(`this edge accepts only Google Workspace accounts of ${rules.hostedDomain}`);
  }
  if (rules.requireMfa && signingIn) {
    const amr = Array.isArray(claims.amr) ? claims.amr : [];
    if (!amr.includes('mfa')) {
      throw new ProviderError(`this edge requires multi-factor sign-in at ${rules.providerName}, and its token does not say one was used (its "amr" has no "mfa")`);
    }
  }
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' && value.length > 0 ? value : null;
}

function stringArray(value: unknown): string[] {
  if (!Array.isArray(value) || value.length > MAX_GROUPS) return [];
  return value.every((v): v is string => typeof v === 'string') ? [...value] : [];
}

const safe = (s: string): string => s.replace(/[^\x20-\x7e]/g, '?').slice(0, 64);
