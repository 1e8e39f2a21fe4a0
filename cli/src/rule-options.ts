import type { SocketRulesBody } from '@postern/edge';
import { describeAccess, IDENTITY_FIELDS, readPolicyFile, type DefaultRule, type Rule, type ShorthandKey, type SocketProtocol } from '@postern/shared/policy';
import type { Command } from 'commander';
import { CliError } from './errors.js';

/** `allowed_email_domains` → `--allowed-email-domains` (the flag) and `allowedEmailDomains` (commander's key). */
const flagOf = (key: ShorthandKey): string => `--${key.replace(/_/g, '-')}`;
const optionOf = (key: ShorthandKey): string => key.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** The access-rule flags, shared by `connect`, `socket create` and `socket update`. */
export type RuleOptions = {
  cloudauth?: boolean;
  emailHeader?: string;
  userHeader?: string;
  policyFile?: string;
} & { [flag: string]: unknown };

/** Comma-separated lists, also accepted as repeated flags. */
const list = (value: string, previous: string[] = []): string[] => [...previous, ...value.split(',').map((v) => v.trim()).filter(Boolean)];

/** Today's flags set the default rule (the policy's field list names them); `--policy-file` gives the whole policy. */
export function addRuleOptions(command: Command): Command {
  command.option('--cloudauth', 'require sign-in at the edge (without it an HTTP socket is public)');
  for (const field of IDENTITY_FIELDS) command.option(`${flagOf(field.shorthand)} <list>`, field.help, list);
  return command
    .option('--policy-file <file>', 'the whole policy (rules and default) from a YAML file: a postern.yaml with one socket, or rules:/default: alone')
    .option('--email-header <name>', 'header that carries the user email to the app (default X-Auth-Email)')
    .option('--user-header <name>', 'header that carries the user name to the app (default X-Auth-User)');
}

/**
 * The API body for the rule flags given; flags not given are left out (an update keeps them). A
 * policy file replaces rules and default whole; it cannot be mixed with the shorthand flags.
 */
export function rulesBody(opts: RuleOptions, protocol: SocketProtocol = 'http'): SocketRulesBody {
  const headers = { ...(opts.emailHeader ? { email: opts.emailHeader } : {}), ...(opts.userHeader ? { user: opts.userHeader } : {}) };
  const shorthand = Object.fromEntries(
    IDENTITY_FIELDS.filter((f) => opts[optionOf(f.shorthand)] !== undefined).map((f) => [f.shorthand, opts[optionOf(f.shorthand)] as string[]]),
  );
  if (opts.policyFile && (opts.cloudauth || Object.keys(shorthand).length > 0)) {
    throw new CliError('--policy-file gives the whole policy: put --cloudauth and the --allowed-* lists in the file instead');
  }
  const policy = opts.policyFile ? readPolicyFile(opts.policyFile, protocol) : undefined;
  return {
    ...(opts.cloudauth ? { cloudauth: true } : {}),
    ...shorthand,
    ...(policy ? { rules: policy.rules, default: policy.default } : {}),
    ...(Object.keys(headers).length > 0 ? { identity_headers: headers } : {}),
  };
}

/** mysocketctl spells these with underscores; scripts written for it keep working. */
const UNDERSCORE_ALIASES: Readonly<Record<string, string>> = {
  ...Object.fromEntries(IDENTITY_FIELDS.map((f) => [`--${f.shorthand}`, flagOf(f.shorthand)])),
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

/** Who may enter, in words (for human output): describe() of the socket's policy, as its owner reads it. */
export function describeRules(socket: { readonly rules: readonly Rule[]; readonly default: DefaultRule }): string {
  return describeAccess({ version: 1, rules: socket.rules, default: socket.default }, 'you');
}
