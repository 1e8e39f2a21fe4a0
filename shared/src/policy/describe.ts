/** A policy in words, from the field list: the portal, `socket show`, the 403 page and `policy test` use the same phrases. */
import { CONTEXT_FIELDS, IDENTITY_FIELDS } from './fields.js';
import type { DefaultRule, IdentityConditions, Policy, Rule } from './types.js';

/** `alice@corp.com, anyone @corp.com, group eng`; empty when the conditions name no one. */
export function describePeople(conditions: IdentityConditions): string {
  if (conditions.anyone_signed_in) return 'anyone signed in';
  return IDENTITY_FIELDS.flatMap((f) => (conditions[f.key] ?? []).map(f.noun)).join(', ');
}

/** `POST /webhook`, `/admin/*`, `GET,HEAD every path`; empty for every request. */
export function describeWhere(rule: Rule): string {
  const methods = rule.methods?.join(',');
  const paths = rule.paths?.join(', ');
  if (methods && paths) return `${methods} ${paths}`;
  if (methods) return `${methods} on every path`;
  return paths ?? '';
}

/** The rule's conditions of place and time: `from 10.0.0.0/8 until 2027-01-31T00:00:00.000Z`. */
export function describeConditions(rule: Rule, filter: (timeDependent: boolean) => boolean = () => true): string {
  return CONTEXT_FIELDS.filter((f) => rule[f.key] !== undefined && filter(f.timeDependent))
    .map((f) => f.describe(rule[f.key]))
    .join(' ');
}

/** One rule in words: `deny everyone on /admin/* not from 10.0.0.0/8`. */
export function describeRule(rule: Rule): string {
  const people = describePeople(rule);
  const head = rule.action === 'public' ? 'public' : `${rule.action} ${people || 'everyone'}`;
  const where = describeWhere(rule);
  return [head, where && `on ${where}`, describeConditions(rule)].filter(Boolean).join(' ');
}

/** The default in words; `owner` names the socket's owner (`you` on the owner's own pages). */
export function describeDefault(rule: DefaultRule, owner = 'the owner'): string {
  if (rule.action === 'public') return 'anyone (public, no sign-in)';
  if (rule.action === 'deny') return 'no one (deny)';
  const people = describePeople(rule);
  if (rule.anyone_signed_in) return `${people} (and ${owner})`;
  return people ? `${owner} and ${people}` : `only ${owner}`;
}

/** `rules[1] (deny everyone on /admin/*)`: how reasons and errors name a rule (0-based, as in the file). */
export const ruleLabel = (rule: Rule, index: number): string => `rules[${index}] (${describeRule(rule)})`;

/** Every rule, then the default: one line each. */
export function describePolicy(policy: Policy, owner = 'the owner'): string[] {
  return [...policy.rules.map((rule, i) => `rules[${i}]: ${describeRule(rule)}`), `default: ${describeDefault(policy.default, owner)}`];
}

/** One short phrase for tables: who may enter when the policy has no rules, else the count of rules too. */
export function describeAccess(policy: Policy, owner = 'the owner'): string {
  const fallback = describeDefault(policy.default, owner);
  const n = policy.rules.length;
  return n === 0 ? fallback : `${n} rule${n === 1 ? '' : 's'}, then ${fallback}`;
}
