import type { SocketRulesBody } from '@postern/edge';
import type { Command } from 'commander';

/** The access-rule flags, shared by `connect`, `socket create` and `socket update`. */
export interface RuleOptions {
  cloudauth?: boolean;
  allowedEmailDomains?: string[];
  allowedEmailAddresses?: string[];
  allowedGithubOrgs?: string[];
  allowedGithubTeams?: string[];
  allowedGroups?: string[];
  emailHeader?: string;
  userHeader?: string;
}

/** Comma-separated lists, also accepted as repeated flags. */
const list = (value: string, previous: string[] = []): string[] => [...previous, ...value.split(',').map((v) => v.trim()).filter(Boolean)];

export function addRuleOptions(command: Command): Command {
  return command
    .option('--cloudauth', 'require sign-in at the edge (without it an HTTP socket is public)')
    .option('--allowed-email-domains <list>', 'who may sign in: email domains, comma-separated (*.corp.com for subdomains)', list)
    .option('--allowed-email-addresses <list>', 'who may sign in: email addresses, comma-separated', list)
    .option('--allowed-github-orgs <list>', 'who may sign in: GitHub organisations', list)
    .option('--allowed-github-teams <list>', 'who may sign in: GitHub teams as org/team', list)
    .option('--allowed-groups <list>', "who may sign in: values of the IdP's groups claim", list)
    .option('--email-header <name>', 'header that carries the user email to the app (default X-Auth-Email)')
    .option('--user-header <name>', 'header that carries the user name to the app (default X-Auth-User)');
}

/** The API body for the rule flags given; flags not given are left out (an update keeps them). */
export function rulesBody(opts: RuleOptions): SocketRulesBody {
  const headers = { ...(opts.emailHeader ? { email: opts.emailHeader } : {}), ...(opts.userHeader ? { user: opts.userHeader } : {}) };
  return {
    ...(opts.cloudauth ? { cloudauth: true } : {}),
    ...(opts.allowedEmailDomains ? { allowed_email_domains: opts.allowedEmailDomains } : {}),
    ...(opts.allowedEmailAddresses ? { allowed_email_addresses: opts.allowedEmailAddresses } : {}),
    ...(opts.allowedGithubOrgs ? { allowed_github_orgs: opts.allowedGithubOrgs } : {}),
    ...(opts.allowedGithubTeams ? { allowed_github_teams: opts.allowedGithubTeams } : {}),
    ...(opts.allowedGroups ? { allowed_groups: opts.allowedGroups } : {}),
    ...(Object.keys(headers).length > 0 ? { identity_headers: headers } : {}),
  };
}

/** mysocketctl spells these with underscores; scripts written for it keep working. */
const UNDERSCORE_ALIASES: Readonly<Record<string, string>> = {
  '--allowed_email_domains': '--allowed-email-domains',
  '--allowed_email_addresses': '--allowed-email-addresses',
  '--allowed_github_orgs': '--allowed-github-orgs',
  '--allowed_github_teams': '--allowed-github-teams',
  '--allowed_groups': '--allowed-groups',
  '--socket_id': '--socket',
  '--tunnel_id': '--tunnel',
};

/** Rewrites underscore spellings (also `--flag=value`) to the dashed ones before parsing. */
export function normalizeAliases(argv: readonly string[]): string[] {
  return argv.map((arg) => {
    const [flag, ...rest] = arg.split('=');
    const alias = flag ? UNDERSCORE_ALIASES[flag] : undefined;
    return alias ? [alias, ...rest].join('=') : arg;
  });
}

/** Who may enter, in words (for human output). */
export function describeRules(socket: {
  cloudauth: boolean;
  allowed_email_domains: readonly string[];
  allowed_email_addresses: readonly string[];
  allowed_github_orgs: readonly string[];
  allowed_github_teams: readonly string[];
  allowed_groups: readonly string[];
}): string {
  if (!socket.cloudauth) return 'anyone (public, no sign-in)';
  const rules = [
    ...socket.allowed_email_domains.map((d) => `@${d}`),
    ...socket.allowed_email_addresses,
    ...socket.allowed_github_orgs.map((o) => `GitHub org ${o}`),
    ...socket.allowed_github_teams.map((t) => `GitHub team ${t}`),
    ...socket.allowed_groups.map((g) => `group ${g}`),
  ];
  return rules.length > 0 ? `you and ${rules.join(', ')}` : 'only you (the owner)';
}
