import { emailDomain, normalizeDomain, normalizeEmail } from './email.js';

/** A socket's access rules: data, not code. */
export interface AccessRules {
  /** Sign-in required (mysocket's `cloudauth`). False: the socket is public. */
  readonly cloudauth: boolean;
  /** `corp.com` matches exactly that domain; `*.corp.com` matches its subdomains only. */
  readonly allowedEmailDomains: readonly string[];
  readonly allowedEmailAddresses: readonly string[];
  readonly allowedGithubOrgs: readonly string[];
  /** `org/team` slugs. */
  readonly allowedGithubTeams: readonly string[];
  /** Values of the IdP's `groups` claim. */
  readonly allowedGroups: readonly string[];
  /** The owner's email: with sign-in on and no rule at all, only the owner gets in. */
  readonly ownerEmail: string;
}

/** Who is asking, as the identity provider vouched for it. */
export interface Identity {
  /** Verified email only (unverified ones are dropped before this point), normalized; or null. */
  readonly email: string | null;
  readonly groups: readonly string[];
  readonly githubOrgs: readonly string[];
  readonly githubTeams: readonly string[];
}

export type Decision = { readonly allow: boolean; readonly reason: string };

const allow = (reason: string): Decision => ({ allow: true, reason });
const deny = (reason: string): Decision => ({ allow: false, reason });

function domainMatches(rule: string, domain: string): boolean {
  if (rule.startsWith('*.')) {
    const parent = normalizeDomain(rule.slice(2));
    return parent !== null && domain.endsWith(`.${parent}`);
  }
  return normalizeDomain(rule) === domain;
}

const lowerSet = (values: readonly string[]): Set<string> => new Set(values.map((v) => v.trim().toLowerCase()));

/**
 * Decides one request. Pure: the same rules and identity always give the same answer, with the
 * reason a person sees on the 403 page and in the audit log.
 */
export function evaluate(rules: AccessRules, identity: Identity | null): Decision {
  if (!rules.cloudauth) return allow('the socket is public');
  if (!identity) return deny('sign-in required');
  const email = identity.email === null ? null : normalizeEmail(identity.email);

  const anyRule =
    rules.allowedEmailDomains.length + rules.allowedEmailAddresses.length + rules.allowedGithubOrgs.length +
      rules.allowedGithubTeams.length + rules.allowedGroups.length > 0;

  if (email !== null && email === normalizeEmail(rules.ownerEmail)) return allow('owner of the socket');
  if (!anyRule) return deny('only the owner of this socket may use it (no access rule is set)');

  if (email !== null) {
    if (rules.allowedEmailAddresses.some((a) => normalizeEmail(a) === email)) return allow(`email ${email} is allowed`);
    const domain = emailDomain(email);
    const rule = rules.allowedEmailDomains.find((d) => domainMatches(d, domain));
    if (rule) return allow(`email domain matches ${rule}`);
  }
  const orgs = lowerSet(identity.githubOrgs);
  const org = rules.allowedGithubOrgs.find((o) => orgs.has(o.toLowerCase()));
  if (org) return allow(`member of GitHub org ${org}`);
  const teams = lowerSet(identity.githubTeams);
  const team = rules.allowedGithubTeams.find((t) => teams.has(t.toLowerCase()));
  if (team) return allow(`member of GitHub team ${team}`);
  const groups = new Set(identity.groups);
  const group = rules.allowedGroups.find((g) => groups.has(g));
  if (group) return allow(`member of group ${group}`);

  return deny(email === null ? 'no verified email address, and no other rule matches' : `${email} is not allowed by this socket's rules`);
}
