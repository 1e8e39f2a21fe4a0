/**
 * The one list of a rule's fields. The JSON Schema (file, API), the normaliser, `describe`, the
 * compiled evaluator, the CLI's shorthand flags and the socket view's `allowed_*` fields are all
 * built from these tables; a new condition is one entry here.
 */
import { compileCidrs, normaliseCidr, parseAddress } from './cidr.js';
import { emailDomain, normalizeDomain, normalizeEmail } from './email.js';
import { compilePathPattern, normalisePathPattern } from './paths.js';
import { at } from './problems.js';
import { compileWindow, describeWindow, normaliseDays, normaliseHours, normaliseInstant, normaliseZone } from './time.js';
import { WEEKDAYS, type ContextConditions, type DefaultRule, type Identity, type IdentityConditions, type RequestFacts, type TimeWindow } from './types.js';

type JsonSchema = Readonly<Record<string, unknown>>;

const listOf = (item: JsonSchema, description: string): JsonSchema => ({ type: 'array', maxItems: 100, items: item, description });
const text = (maxLength = 254): JsonSchema => ({ type: 'string', minLength: 1, maxLength });

// ------------------------------------------------------------------------------------- identity

export type IdentityKey = Exclude<keyof IdentityConditions, 'anyone_signed_in'>;

/** mysocket's socket-level names of the default rule's lists (today's flags and JSON fields). */
export type ShorthandKey = 'allowed_email_addresses' | 'allowed_email_domains' | 'allowed_github_orgs' | 'allowed_github_teams' | 'allowed_groups';

export interface IdentityField {
  readonly key: IdentityKey;
  /** The socket-level spelling (mysocket's): `allowed_email_addresses` is the default rule's `emails`. */
  readonly shorthand: ShorthandKey;
  /** Help of the CLI flag `--allowed-…` (the flag is the shorthand with dashes). */
  readonly help: string;
  readonly schema: JsonSchema;
  /** One value as written → its normal form; throws with the reason. */
  readonly normalise: (value: string) => string;
  /** One value in words, as pages and `describe` show it. */
  readonly noun: (value: string) => string;
  /** A matcher for the normalised values: the reason it matched, or null. */
  readonly compile: (values: readonly string[]) => (identity: Identity) => string | null;
}

const GITHUB_SLUG = /^[a-z0-9](?:[a-z0-9-]{0,38})$/i;

const anyOf = (values: readonly string[], have: readonly string[]): string | undefined => {
  if (have.length === 0) return undefined;
  const set = new Set(have);
  return values.find((v) => set.has(v));
};

export const IDENTITY_FIELDS: readonly IdentityField[] = [
  {
    key: 'emails',
    shorthand: 'allowed_email_addresses',
    help: 'who may sign in: email addresses, comma-separated',
    schema: listOf(text(), 'email addresses, matched exactly (lower-cased)'),
    normalise: (value) => {
      const email = normalizeEmail(value.trim());
      if (!email) throw new Error(`"${value}" is not an email address`);
      return email;
    },
    noun: (value) => value,
    compile: (values) => {
      const set = new Set(values);
      return (identity) => (identity.email !== null && set.has(identity.email) ? `email ${identity.email} is allowed` : null);
    },
  },
  {
    key: 'domains',
    shorthand: 'allowed_email_domains',
    help: 'who may sign in: email domains, comma-separated (*.corp.com for subdomains)',
    schema: listOf(text(), 'corp.com matches that domain exactly; *.corp.com its subdomains only'),
    normalise: (value) => {
      const wildcard = value.trim().startsWith('*.');
      const domain = normalizeDomain(wildcard ? value.trim().slice(2) : value);
      if (!domain) throw new Error(`"${value}" is not an email domain (write corp.com, or *.corp.com for its subdomains)`);
      return wildcard ? `*.${domain}` : domain;
    },
    noun: (value) => `anyone @${value}`,
    compile: (values) => {
      const exact = new Set(values.filter((d) => !d.startsWith('*.')));
      const parents = values.filter((d) => d.startsWith('*.')).map((d) => d.slice(1));
      return (identity) => {
        if (identity.email === null) return null;
        const domain = emailDomain(identity.email);
        if (exact.has(domain)) return `email domain matches ${domain}`;
        const parent = parents.find((p) => domain.endsWith(p));
        return parent ? `email domain matches *${parent}` : null;
      };
    },
  },
  {
    key: 'github_orgs',
    shorthand: 'allowed_github_orgs',
    help: 'who may sign in: GitHub organisations',
    schema: listOf(text(39), 'GitHub organisation logins'),
    normalise: (value) => {
      if (!GITHUB_SLUG.test(value.trim())) throw new Error(`"${value}" is not a GitHub organisation name`);
      return value.trim().toLowerCase();
    },
    noun: (value) => `GitHub org ${value}`,
    compile: (values) => (identity) => {
      const org = anyOf(values, identity.githubOrgs);
      return org ? `member of GitHub org ${org}` : null;
    },
  },
  {
    key: 'github_teams',
    shorthand: 'allowed_github_teams',
    help: 'who may sign in: GitHub teams as org/team',
    schema: listOf(text(140), 'GitHub teams as org/team-slug'),
    normalise: (value) => {
      const [org, team, extra] = value.trim().split('/');
      if (!org || !team || extra !== undefined || !GITHUB_SLUG.test(org) || !/^[a-z0-9_.-]{1,100}$/i.test(team)) {
        throw new Error(`"${value}" is not a GitHub team (write org/team-slug)`);
      }
      return value.trim().toLowerCase();
    },
    noun: (value) => `GitHub team ${value}`,
    compile: (values) => (identity) => {
      const team = anyOf(values, identity.githubTeams);
      return team ? `member of GitHub team ${team}` : null;
    },
  },
  {
    key: 'groups',
    shorthand: 'allowed_groups',
    help: "who may sign in: values of the IdP's groups claim",
    schema: listOf(text(), "values of the IdP's groups claim, matched exactly"),
    normalise: (value) => {
      if (/[\x00-\x1f\x7f]/.test(value)) throw new Error(`"${JSON.stringify(value)}" is not a group name (control characters)`);
      return value;
    },
    noun: (value) => `group ${value}`,
    compile: (values) => (identity) => {
      const group = anyOf(values, identity.groups);
      return group ? `member of group ${group}` : null;
    },
  },
];

export const ANYONE_SIGNED_IN_SCHEMA: JsonSchema = {
  type: 'boolean',
  description: 'any signed-in person (with every provider the edge offers, that may be anyone with an account there)',
};

/** The default rule's lists under their shorthand names (empty unless the default is allow). */
export function shorthandLists(fallback: DefaultRule): Record<ShorthandKey, readonly string[]> {
  const lists = fallback.action === 'allow' ? fallback : {};
  return Object.fromEntries(IDENTITY_FIELDS.map((f) => [f.shorthand, (lists as IdentityConditions)[f.key] ?? []])) as Record<ShorthandKey, readonly string[]>;
}

// -------------------------------------------------------------------------------------- context

type ContextKey = keyof ContextConditions;

interface TypedContextField<K extends ContextKey> {
  readonly key: K;
  readonly schema: JsonSchema;
  /** The schema-checked value as written → its normal form; throws with the reason. */
  readonly normalise: (value: unknown) => NonNullable<ContextConditions[K]>;
  /** Words after the rule's action: `from 10.0.0.0/8`, `until 2027-01-31T00:00:00.000Z`. */
  readonly describe: (value: NonNullable<ContextConditions[K]>) => string;
  readonly compile: (value: NonNullable<ContextConditions[K]>) => (facts: RequestFacts) => boolean;
  /** The condition changes with time alone: open streams must be checked again while they last. */
  readonly timeDependent: boolean;
  /** Needs the client address. */
  readonly usesAddress?: boolean;
}

/** A condition with its value type erased, for code that walks the list. */
export interface ContextField {
  readonly key: ContextKey;
  readonly schema: JsonSchema;
  readonly normalise: (value: unknown) => unknown;
  readonly describe: (value: unknown) => string;
  readonly compile: (value: unknown) => (facts: RequestFacts) => boolean;
  readonly timeDependent: boolean;
  readonly usesAddress?: boolean;
}

const erase = <K extends ContextKey>(field: TypedContextField<K>): ContextField => field as unknown as ContextField;

const cidrList = (description: string): JsonSchema => listOf(text(49), description);

const addressIn = (cidrs: readonly string[]): ((facts: RequestFacts) => boolean) => {
  const match = compileCidrs(cidrs);
  // Requests come in runs from the same client: the last address is parsed once.
  let lastIp: string | null = null;
  let lastInside = false;
  return (facts) => {
    if (facts.ip === null) return false;
    if (facts.ip !== lastIp) {
      const address = parseAddress(facts.ip);
      lastInside = address !== null && match(address);
      lastIp = facts.ip;
    }
    return lastInside;
  };
};

const windowSchema: JsonSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['hours'],
  properties: {
    days: listOf(text(16), `${WEEKDAYS.join(', ')}, a range such as mon-fri, weekdays or weekends; none: every day`),
    hours: { type: 'string', description: 'HH:MM-HH:MM local time; 22:00-06:00 runs past midnight' },
    zone: { type: 'string', description: 'IANA time zone (default UTC)' },
  },
};

const instantSchema = (description: string): JsonSchema => ({ type: 'string', description: `${description} (RFC 3339, e.g. 2027-01-31T18:00:00Z)` });

function normaliseWindow(raw: { days?: string[]; hours: string; zone?: string }): TimeWindow {
  return { days: normaliseDays(raw.days ?? ['mon-sun']), hours: normaliseHours(raw.hours), zone: normaliseZone(raw.zone ?? 'UTC') };
}

/** Each item normalised, a bad one reported at its index. */
const eachOf = <T>(value: unknown, normalise: (item: string) => T): T[] => (value as string[]).map((item, i) => at([i], () => normalise(item)));

const ipCidrs: TypedContextField<'ip_cidrs'> = {
  key: 'ip_cidrs',
  schema: cidrList('the client address is in one of these blocks (the trusted client address, see --trusted-proxy)'),
  normalise: (value) => eachOf(value, normaliseCidr),
  describe: (cidrs) => `from ${cidrs.join(', ')}`,
  compile: addressIn,
  timeDependent: false,
  usesAddress: true,
};

const notIpCidrs: TypedContextField<'not_ip_cidrs'> = {
  key: 'not_ip_cidrs',
  schema: cidrList('the client address is in none of these blocks'),
  normalise: (value) => eachOf(value, normaliseCidr),
  describe: (cidrs) => `not from ${cidrs.join(', ')}`,
  compile: (cidrs) => {
    const inside = addressIn(cidrs);
    return (facts) => !inside(facts);
  },
  timeDependent: false,
  usesAddress: true,
};

const time: TypedContextField<'time'> = {
  key: 'time',
  schema: { oneOf: [windowSchema, { type: 'array', minItems: 1, maxItems: 20, items: windowSchema }], description: 'one window or a list: the rule applies inside any of them' },
  normalise: (value) => (Array.isArray(value) ? value.map((w, i) => at([i], () => normaliseWindow(w))) : [normaliseWindow(value as never)]),
  describe: (windows) => windows.map(describeWindow).join(' or '),
  compile: (windows) => {
    const inside = windows.map(compileWindow);
    return (facts) => inside.some((f) => f(facts.at));
  },
  timeDependent: true,
};

const notBefore: TypedContextField<'not_before'> = {
  key: 'not_before',
  schema: instantSchema('the rule applies from this instant on'),
  normalise: (value) => normaliseInstant(value as string),
  describe: (at) => `from ${at}`,
  compile: (at) => {
    const t = Date.parse(at);
    return (facts) => facts.at >= t;
  },
  timeDependent: true,
};

const expires: TypedContextField<'expires'> = {
  key: 'expires',
  schema: instantSchema('the rule stops applying at this instant; open WebSocket and TCP streams it let in close within seconds'),
  normalise: (value) => normaliseInstant(value as string),
  describe: (at) => `until ${at}`,
  compile: (at) => {
    const t = Date.parse(at);
    return (facts) => facts.at < t;
  },
  timeDependent: true,
};

const corsPreflight: TypedContextField<'cors_preflight'> = {
  key: 'cors_preflight',
  schema: { type: 'boolean', description: 'true: the rule applies only to CORS preflights (OPTIONS with Origin and Access-Control-Request-Method)' },
  normalise: (value) => value as boolean,
  describe: () => 'for CORS preflights',
  compile: () => (facts) => facts.corsPreflight,
  timeDependent: false,
};

/** In the order they are checked and described. */
export const CONTEXT_FIELDS: readonly ContextField[] = [
  erase(ipCidrs),
  erase(notIpCidrs),
  erase(time),
  erase(notBefore),
  erase(expires),
  erase(corsPreflight),
];

// ---------------------------------------------------------------------------------------- match

export interface MatchField {
  readonly key: 'paths' | 'methods';
  readonly schema: JsonSchema;
  readonly normalise: (value: string) => string;
  /** A matcher, or what a request without that part (TCP) answers. */
  readonly compile: (values: readonly string[]) => (facts: RequestFacts) => boolean;
}

export const MATCH_FIELDS: readonly MatchField[] = [
  {
    key: 'paths',
    schema: listOf(text(1024), 'exact /health; /admin/* is /admin and everything under it; /api* every path starting so; other * match within a segment'),
    normalise: normalisePathPattern,
    compile: (patterns) => {
      const matchers = patterns.map(compilePathPattern);
      return (facts) => facts.path !== null && matchers.some((m) => m(facts.path!));
    },
  },
  {
    key: 'methods',
    schema: listOf({ type: 'string', pattern: '^[A-Za-z]{1,20}$' }, 'HTTP methods; GET also matches HEAD'),
    normalise: (value) => value.toUpperCase(),
    compile: (methods) => {
      const set = new Set(methods.includes('GET') ? [...methods, 'HEAD'] : methods);
      return (facts) => facts.method !== null && set.has(facts.method);
    },
  },
];
