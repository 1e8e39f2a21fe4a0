/**
 * A policy compiled once per version into closures, so deciding a request is a walk over
 * prepared matchers: no parsing, no normalising, no allocation beyond the verdict.
 */
import { describeConditions, ruleLabel } from './describe.js';
import { CONTEXT_FIELDS, IDENTITY_FIELDS, MATCH_FIELDS } from './fields.js';
import type { Action, DefaultRule, Identity, IdentityConditions, Policy, RequestFacts, Rule } from './types.js';

/**
 * The outcome for one request. `rule` is the 0-based index of the deciding rule, null for the
 * default; `reason` is what the 403 page, the audit log and `policy test` say.
 */
export type Verdict =
  /** `anonymous`: a public decision: no identity headers, whoever is asking. */
  | { readonly kind: 'allow'; readonly rule: number | null; readonly reason: string; readonly anonymous: boolean }
  | { readonly kind: 'deny'; readonly rule: number | null; readonly reason: string }
  /** The rule at `rule` (or the default) depends on who is asking: sign in, then decide from there. */
  | { readonly kind: 'sign-in'; readonly rule: number | null; readonly reason: string; readonly resumeAt: number };

type FactTest = (facts: RequestFacts) => boolean;
type IdentityTest = (identity: Identity) => string | null;

interface CompiledRule {
  readonly index: number;
  readonly action: Action;
  readonly label: string;
  readonly where: readonly FactTest[];
  readonly context: readonly FactTest[];
  /** Conditions that time alone changes (windows, not_before, expires). */
  readonly timed: readonly FactTest[];
  readonly timeWords: string;
  readonly usesAddress: boolean;
  /** Null: the rule is about no one in particular (public, or a deny for everyone). */
  readonly people: IdentityTest | null;
}

function compilePeople(conditions: IdentityConditions): IdentityTest | null {
  if (conditions.anyone_signed_in) return () => 'signed in';
  const tests = IDENTITY_FIELDS.filter((f) => conditions[f.key] !== undefined).map((f) => f.compile(conditions[f.key]!));
  if (tests.length === 0) return null;
  return (identity) => {
    for (const test of tests) {
      const why = test(identity);
      if (why !== null) return why;
    }
    return null;
  };
}

function compileRule(rule: Rule, index: number): CompiledRule {
  const present = CONTEXT_FIELDS.filter((f) => rule[f.key] !== undefined);
  return {
    index,
    action: rule.action,
    label: ruleLabel(rule, index),
    where: MATCH_FIELDS.filter((f) => rule[f.key] !== undefined).map((f) => f.compile(rule[f.key]!)),
    context: present.filter((f) => !f.timeDependent).map((f) => f.compile(rule[f.key])),
    timed: present.filter((f) => f.timeDependent).map((f) => f.compile(rule[f.key])),
    timeWords: describeConditions(rule, (timeDependent) => timeDependent),
    usesAddress: present.some((f) => f.usesAddress),
    people: compilePeople(rule),
  };
}

const all = (tests: readonly FactTest[], facts: RequestFacts): boolean => {
  for (const test of tests) if (!test(facts)) return false;
  return true;
};

export class CompiledPolicy {
  private readonly rules: readonly CompiledRule[];
  private readonly fallback: DefaultRule;
  private readonly fallbackPeople: IdentityTest | null;
  /** No rule and a public default: the gate skips everything (no identity is even looked up). */
  readonly fullyPublic: boolean;
  /** Some rule matches on paths: the gate must decode the path (and refuse ambiguous spellings). */
  readonly usesPath: boolean;
  /** Some decision may change with time alone: open streams are checked again while they last. */
  readonly timeDependent: boolean;

  constructor(
    readonly policy: Policy,
    /** The owner's normalised email: the default `allow` always admits them. */
    private readonly ownerEmail: string | null,
  ) {
    this.rules = policy.rules.map(compileRule);
    this.fallback = policy.default;
    this.fallbackPeople = policy.default.action === 'allow' ? compilePeople(policy.default) : null;
    this.fullyPublic = policy.rules.length === 0 && policy.default.action === 'public';
    this.usesPath = policy.rules.some((r) => r.paths !== undefined);
    this.timeDependent = this.rules.some((r) => r.timed.length > 0);
  }

  /** Decides a request: first rule that applies, else the default. `from` resumes after a sign-in. */
  decide(identity: Identity | null, facts: RequestFacts, from = 0): Verdict {
    let missedByTime: CompiledRule | undefined;
    for (let i = from; i < this.rules.length; i++) {
      const rule = this.rules[i]!;
      if (!all(rule.where, facts)) continue;
      if (rule.usesAddress && facts.ip === null) {
        return { kind: 'deny', rule: i, reason: `${rule.label} needs the client address, and it is unknown` };
      }
      if (!all(rule.context, facts)) continue;
      const inTime = all(rule.timed, facts);
      if (rule.people === null) {
        if (!inTime) continue;
        return rule.action === 'public'
          ? { kind: 'allow', rule: i, reason: `${rule.label} lets anyone in without sign-in`, anonymous: true }
          : { kind: 'deny', rule: i, reason: `${rule.label} denies ${identity?.email ?? 'this request'}` };
      }
      if (!inTime) {
        if (rule.action === 'allow' && (identity === null || rule.people(identity) !== null)) missedByTime ??= rule;
        continue;
      }
      if (identity === null) return { kind: 'sign-in', rule: i, reason: 'sign-in required', resumeAt: i };
      const why = rule.people(identity);
      if (why === null) continue;
      const who = identity.email ?? 'this person';
      return rule.action === 'allow'
        ? { kind: 'allow', rule: i, reason: `${rule.label} allows ${who}: ${why}`, anonymous: false }
        : { kind: 'deny', rule: i, reason: `${rule.label} denies ${who}: ${why}` };
    }
    return this.decideDefault(identity, missedByTime);
  }

  /**
   * Whether some rule, or the default, could let this person in as themselves (whatever the path,
   * method, address or time): an app that might learn who they are. Public rules tell it nothing.
   */
  mayAdmit(identity: Identity): boolean {
    if (this.rules.some((rule) => rule.action === 'allow' && rule.people !== null && rule.people(identity) !== null)) return true;
    if (this.fallback.action !== 'allow') return false;
    if (identity.email !== null && identity.email === this.ownerEmail) return true;
    return this.fallbackPeople !== null && this.fallbackPeople(identity) !== null;
  }

  /**
   * The decision for a known person, from where the anonymous one (`decide(null, …)`) stopped: the
   * rule that asked for a sign-in, or the one that denied everyone (decided again to name them).
   */
  decideFor(identity: Identity, facts: RequestFacts, anonymous: Verdict): Verdict {
    if (anonymous.kind === 'sign-in') return this.decide(identity, facts, anonymous.resumeAt);
    if (anonymous.kind === 'deny') return this.decide(identity, facts, anonymous.rule ?? this.rules.length);
    return anonymous;
  }

  private decideDefault(identity: Identity | null, missedByTime: CompiledRule | undefined): Verdict {
    const fallback = this.fallback;
    if (fallback.action === 'public') {
      const reason = this.rules.length === 0 ? 'the socket is public' : 'no rule applies, and the default is public';
      return { kind: 'allow', rule: null, reason, anonymous: true };
    }
    const missed = missedByTime ? `; rules[${missedByTime.index}] would let them in, but only ${missedByTime.timeWords}` : '';
    if (fallback.action === 'deny') {
      return { kind: 'deny', rule: null, reason: `no rule lets ${identity?.email ?? 'this request'} in, and the default is deny${missed}` };
    }
    if (identity === null) return { kind: 'sign-in', rule: null, reason: 'sign-in required', resumeAt: this.rules.length };
    const email = identity.email;
    if (email !== null && email === this.ownerEmail) return { kind: 'allow', rule: null, reason: 'owner of the socket', anonymous: false };
    if (this.fallbackPeople === null) {
      const reason =
        this.rules.length === 0
          ? 'only the owner of this socket may use it (no access rule is set)'
          : `no rule lets ${email ?? 'this person'} in, and by default only the owner of this socket may use it`;
      return { kind: 'deny', rule: null, reason: `${reason}${missed}` };
    }
    const why = this.fallbackPeople(identity);
    if (why !== null) return { kind: 'allow', rule: null, reason: why, anonymous: false };
    const denied = email === null ? 'no verified email address, and no other rule matches' : `${email} is not allowed by this socket's rules`;
    return { kind: 'deny', rule: null, reason: `${denied}${missed}` };
  }
}
