import { normalizeEmail, type Identity } from '@postern/shared/policy';
import type { User } from '../store/users.js';

type PolicyPerson = Pick<User, 'email' | 'groups' | 'githubOrgs' | 'githubTeams'>;

const identities = new WeakMap<PolicyPerson, Identity>();

/**
 * A user as the policy sees them, made once per user record (session and token caches hand out the
 * same record for seconds at a time), so no request normalises an email.
 */
export function identityOf(user: PolicyPerson): Identity {
  const cached = identities.get(user);
  if (cached) return cached;
  const identity: Identity = {
    email: user.email === null ? null : normalizeEmail(user.email),
    groups: user.groups,
    githubOrgs: user.githubOrgs,
    githubTeams: user.githubTeams,
  };
  identities.set(user, identity);
  return identity;
}
