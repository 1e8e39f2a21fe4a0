import { describeDefault, describeRule, IDENTITY_FIELDS, shorthandLists, type Policy } from '@postern/shared/policy';

/** The default's lists by their portal names (`allowed_email_domains` → `email_domains`). */
type Lists = { readonly [K in 'email_domains' | 'email_addresses' | 'github_orgs' | 'github_teams' | 'groups']: readonly string[] };

/** Who may enter a socket, as its owner reads it on the portal (and scripts read it in the JSON). */
export type AccessSummary =
  | { readonly kind: 'public' }
  /** Sign-in on and no rule: only the owner gets in. */
  | { readonly kind: 'owner-only' }
  /** The rules in order (in words), then the default: the owner plus whoever its lists name. */
  | (Lists & { readonly kind: 'rules'; readonly rules: readonly string[]; readonly default: string });

/** Built from describe(policy), the same words the 403 page and `postern policy test` use. */
export function accessSummary(policy: Policy): AccessSummary {
  if (policy.rules.length === 0 && policy.default.action === 'public') return { kind: 'public' };
  const shorthand = shorthandLists(policy.default);
  const lists = Object.fromEntries(IDENTITY_FIELDS.map((f) => [f.shorthand.replace(/^allowed_/, ''), shorthand[f.shorthand]])) as Lists;
  const named = Object.values(lists).some((values) => values.length > 0) || (policy.default.action === 'allow' && policy.default.anyone_signed_in === true);
  if (policy.rules.length === 0 && policy.default.action === 'allow' && !named) return { kind: 'owner-only' };
  return { kind: 'rules', ...lists, rules: policy.rules.map(describeRule), default: describeDefault(policy.default, 'you') };
}
