import type { SocketRecord } from '../store/sockets.js';

/** Who may enter a socket, as its owner reads it on the portal (and scripts read it in the JSON). */
export type AccessSummary =
  | { readonly kind: 'public' }
  /** Sign-in on and no rule: only the owner gets in. */
  | { readonly kind: 'owner-only' }
  /** The owner, plus whoever matches one of these. */
  | {
      readonly kind: 'rules';
      readonly email_domains: readonly string[];
      readonly email_addresses: readonly string[];
      readonly github_orgs: readonly string[];
      readonly github_teams: readonly string[];
      readonly groups: readonly string[];
    };

/** Mirrors `evaluate`: no sign-in means public; sign-in without a rule means the owner alone. */
export function accessSummary(socket: SocketRecord): AccessSummary {
  if (!socket.cloudauth) return { kind: 'public' };
  const rules = {
    email_domains: socket.allowedEmailDomains,
    email_addresses: socket.allowedEmailAddresses,
    github_orgs: socket.allowedGithubOrgs,
    github_teams: socket.allowedGithubTeams,
    groups: socket.allowedGroups,
  };
  return Object.values(rules).some((values) => values.length > 0) ? { kind: 'rules', ...rules } : { kind: 'owner-only' };
}
