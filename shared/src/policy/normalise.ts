/**
 * The one place a policy is written: input as the file, the API or the flags give it → the
 * normal form that is stored, compared, exported and compiled. Runs once per change, never per
 * request.
 */
import { CONTEXT_FIELDS, IDENTITY_FIELDS, MATCH_FIELDS } from './fields.js';
import { at, checkSchema, PolicyError, type KeyPath, type Problem } from './problems.js';
import { defaultSchema, rulesSchema, shorthandProperties } from './schema.js';
import { POLICY_VERSION, type Action, type DefaultRule, type IdentityConditions, type Policy, type Rule, type SocketProtocol } from './types.js';

type Raw = Readonly<Record<string, unknown>>;

/** The policy part of a socket entry, an API body or the CLI flags. */
export interface PolicyInput {
  readonly cloudauth?: boolean;
  readonly allowed_email_domains?: readonly string[];
  readonly allowed_email_addresses?: readonly string[];
  readonly allowed_github_orgs?: readonly string[];
  readonly allowed_github_teams?: readonly string[];
  readonly allowed_groups?: readonly string[];
  /** Rules as written (checked against ruleSchema) or already normal. */
  readonly rules?: readonly object[];
  readonly default?: Action | object;
}

/** The schema of those fields (other keys are the caller's). */
export const policyInputSchema = {
  type: 'object',
  properties: { ...shorthandProperties, rules: rulesSchema, default: defaultSchema },
} as const;

const TCP_PUBLIC = 'TCP sockets always check who connects (through "postern tcp"); they cannot be public';

/** Normalised items, each once, in the order written; a bad one is a problem at its index. */
function normaliseList(values: readonly string[], normalise: (v: string) => string): string[] {
  const out: string[] = [];
  values.forEach((value, i) => {
    const item = at([i], () => normalise(value));
    if (!out.includes(item)) out.push(item);
  });
  return out;
}

/** The identity lists and `anyone_signed_in` of a rule or default, in field order, empty ones left out. */
function identityOf(raw: Raw): IdentityConditions {
  const out: Record<string, unknown> = {};
  for (const field of IDENTITY_FIELDS) {
    const values = raw[field.key] as string[] | undefined;
    if (values === undefined) continue;
    const list = at([field.key], () => normaliseList(values, field.normalise));
    if (list.length > 0) out[field.key] = list;
  }
  if (raw.anyone_signed_in === true) {
    if (Object.keys(out).length > 0) throw new PolicyError([{ path: ['anyone_signed_in'], message: 'already lets every signed-in person in: drop it, or drop the lists' }]);
    out.anyone_signed_in = true;
  }
  return out;
}

const namesSomeone = (identity: IdentityConditions): boolean => Object.keys(identity).length > 0;

function normaliseRule(raw: Raw, protocol: SocketProtocol): Rule {
  const action = raw.action as Action;
  const out: Record<string, unknown> = {};
  for (const field of MATCH_FIELDS) {
    const values = raw[field.key] as string[] | undefined;
    if (values === undefined) continue;
    if (protocol === 'tcp') throw new PolicyError([{ path: [field.key], message: 'TCP sockets have no paths or methods: leave it out' }]);
    const list = at([field.key], () => normaliseList(values, field.normalise));
    if (list.length > 0) out[field.key] = list;
  }
  out.action = action;
  const identity = identityOf(raw);
  if (action === 'public' && namesSomeone(identity)) {
    throw new PolicyError([{ path: [Object.keys(identity)[0]!], message: 'a public rule lets anyone in without sign-in, so it names no one (use action: allow)' }]);
  }
  if (action === 'public' && protocol === 'tcp') throw new PolicyError([{ path: ['action'], message: TCP_PUBLIC }]);
  if (action === 'allow' && !namesSomeone(identity)) {
    throw new PolicyError([{ path: [], message: `an allow rule says whom it lets in: ${IDENTITY_FIELDS.map((f) => f.key).join(', ')}, or anyone_signed_in: true` }]);
  }
  Object.assign(out, identity);
  for (const field of CONTEXT_FIELDS) {
    const value = raw[field.key];
    if (value === undefined) continue;
    if (field.key === 'cors_preflight' && protocol === 'tcp') throw new PolicyError([{ path: [field.key], message: 'TCP sockets have no CORS preflights: leave it out' }]);
    const normal = at([field.key], () => field.normalise(value));
    if (normal === false || (Array.isArray(normal) && normal.length === 0)) continue;
    out[field.key] = normal;
  }
  if (typeof out.not_before === 'string' && typeof out.expires === 'string' && out.not_before >= out.expires) {
    throw new PolicyError([{ path: ['expires'], message: `is not after not_before (${out.not_before}): the rule would never apply` }]);
  }
  return out as unknown as Rule;
}

function normaliseRules(rules: readonly Raw[], protocol: SocketProtocol): Rule[] {
  const problems: Problem[] = [];
  const out = rules.map((raw, i) => {
    try {
      return at(['rules', i], () => normaliseRule(raw, protocol));
    } catch (err) {
      problems.push(...(err as PolicyError).problems);
      return undefined;
    }
  });
  if (problems.length > 0) throw new PolicyError(problems);
  return out as Rule[];
}

function normaliseDefault(raw: Action | Raw): DefaultRule {
  const object: Raw = typeof raw === 'string' ? { action: raw } : raw;
  const action = object.action as Action;
  const identity = identityOf(object);
  if (action !== 'allow' && namesSomeone(identity)) {
    throw new PolicyError([{ path: [Object.keys(identity)[0]!], message: `a ${action} default names no one (write action: allow to admit the people listed)` }]);
  }
  return action === 'allow' ? { action, ...identity } : { action };
}

const problem = (path: KeyPath, message: string) => new PolicyError([{ path, message }]);

/**
 * The policy after applying `input` to `base` (none for a new socket, or for a file entry, which
 * says everything). `rules` and `default` replace; each `allowed_*` list replaces that list of the
 * default, and naming someone turns sign-in on, as today's flags do; `cloudauth` switches the
 * default between public and allow. Throws a PolicyError naming the key at fault.
 */
export function resolvePolicy(input: PolicyInput, base: Policy | undefined, protocol: SocketProtocol): Policy {
  checkSchema(policyInputSchema, input);
  const rules = input.rules !== undefined ? normaliseRules(input.rules as readonly Raw[], protocol) : (base?.rules ?? []);
  const explicit = input.default !== undefined;
  let fallback: DefaultRule = explicit ? at(['default'], () => normaliseDefault(input.default as Action | Raw)) : (base?.default ?? { action: 'public' });

  const given = IDENTITY_FIELDS.filter((f) => input[f.shorthand as keyof PolicyInput] !== undefined);
  if (given.length > 0) {
    const written = typeof input.default === 'object' ? (input.default as Raw) : undefined;
    const twice = given.find((f) => written?.[f.key] !== undefined);
    if (twice) throw problem([twice.shorthand], `given twice: as ${twice.shorthand} and as default.${twice.key}`);
    const lists: Record<string, unknown> = fallback.action === 'allow' ? { ...fallback } : { action: 'allow' };
    for (const field of given) {
      const values = at([field.shorthand], () => normaliseList(input[field.shorthand as keyof PolicyInput] as string[], field.normalise));
      if (values.length > 0) lists[field.key] = values;
      else delete lists[field.key];
    }
    const namesAnyone = IDENTITY_FIELDS.some((f) => lists[f.key] !== undefined);
    if (namesAnyone && input.cloudauth === false) throw problem(['cloudauth'], 'access rules need sign-in: drop cloudauth=false, or remove the rules to publish openly');
    if (namesAnyone && explicit && fallback.action !== 'allow') throw problem([given[0]!.shorthand], `names who the default lets in, but the default is ${fallback.action} (write default: allow)`);
    if (namesAnyone && lists.anyone_signed_in) throw problem([given[0]!.shorthand], 'the default already lets every signed-in person in (anyone_signed_in)');
    // Rebuilt in field order: equal policies are equal JSON (revisions and `apply` compare them so).
    if (namesAnyone || fallback.action === 'allow') fallback = normaliseDefault(lists);
  }

  if (input.cloudauth === true && fallback.action === 'public') {
    if (explicit) throw problem(['cloudauth'], 'conflicts with default: public');
    fallback = { action: 'allow' };
  }
  if (input.cloudauth === false && fallback.action !== 'public') {
    if (explicit) throw problem(['cloudauth'], `conflicts with default: ${fallback.action}`);
    if (Object.keys(fallback).some((key) => key !== 'action')) {
      throw problem(['cloudauth'], 'access rules need sign-in: drop cloudauth=false, or remove the rules to publish openly');
    }
    fallback = { action: 'public' };
  }
  if (protocol === 'tcp' && fallback.action === 'public') {
    if (explicit || input.cloudauth === false) throw problem([explicit ? 'default' : 'cloudauth'], TCP_PUBLIC);
    fallback = { action: 'allow' };
  }
  return { version: POLICY_VERSION, rules, default: fallback };
}

/** An open HTTP socket: no rules, everyone in. */
export const PUBLIC_POLICY: Policy = { version: POLICY_VERSION, rules: [], default: { action: 'public' } };
