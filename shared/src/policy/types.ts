/**
 * A socket's policy as one value: an ordered list of rules and a default. Stored as one JSON column,
 * sent as JSON by the API, written as YAML in `postern.yaml`; always in the normal form that
 * `normalisePolicy` produces (lists and options that say nothing are left out).
 */
export const POLICY_VERSION = 1;

export type Action = 'public' | 'allow' | 'deny';
export const ACTIONS: readonly Action[] = ['public', 'allow', 'deny'];

export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';
export const WEEKDAYS: readonly Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/** A recurring window of local time: `hours` `HH:MM-HH:MM` (past midnight when the end is earlier), on `days`, in `zone`. */
export interface TimeWindow {
  readonly days: readonly Weekday[];
  readonly hours: string;
  /** An IANA time zone, as `Intl` spells it (`Europe/Berlin`, `UTC`). */
  readonly zone: string;
}

/** Who a rule is about; a person matches when any one of the lists names them. */
export interface IdentityConditions {
  readonly emails?: readonly string[];
  /** `corp.com` matches exactly that domain; `*.corp.com` its subdomains only. */
  readonly domains?: readonly string[];
  /** Values of the IdP's groups claim. */
  readonly groups?: readonly string[];
  readonly github_orgs?: readonly string[];
  /** `org/team-slug`. */
  readonly github_teams?: readonly string[];
  /** Any signed-in person: must be said, never implied by an empty list. */
  readonly anyone_signed_in?: boolean;
}

/** When and from where a rule applies; every condition given must hold. */
export interface ContextConditions {
  readonly ip_cidrs?: readonly string[];
  readonly not_ip_cidrs?: readonly string[];
  /** The rule applies inside any of these windows. */
  readonly time?: readonly TimeWindow[];
  /** RFC 3339 instants, normalised to UTC (`2027-01-31T18:00:00.000Z`). */
  readonly not_before?: string;
  readonly expires?: string;
  /** The rule applies only to CORS preflights (OPTIONS with Origin and Access-Control-Request-Method). */
  readonly cors_preflight?: boolean;
}

export interface Rule extends IdentityConditions, ContextConditions {
  /** Exact `/health`, subtree `/admin/*` (also `/admin` itself), prefix `/api*`, glob `/v*\/status`; none: every path. */
  readonly paths?: readonly string[];
  /** Upper-case; `GET` also matches `HEAD`. None: every method. */
  readonly methods?: readonly string[];
  readonly action: Action;
}

/**
 * What applies when no rule does. `allow` admits the socket's owner and whoever its lists name
 * (the owner alone when they name no one): mysocket's `cloudauth` with `allowed_*`.
 */
export type DefaultRule = { readonly action: 'public' } | { readonly action: 'deny' } | ({ readonly action: 'allow' } & IdentityConditions);

export interface Policy {
  readonly version: typeof POLICY_VERSION;
  readonly rules: readonly Rule[];
  readonly default: DefaultRule;
}

export type SocketProtocol = 'http' | 'tcp';

/** Who is asking, as the identity provider vouched for it; the email verified and normalised. */
export interface Identity {
  readonly email: string | null;
  readonly groups: readonly string[];
  readonly githubOrgs: readonly string[];
  readonly githubTeams: readonly string[];
}

/** What a rule may look at in a request. TCP streams have no path and no method. */
export interface RequestFacts {
  /** The request path, percent-decoded (see requestPath); null for TCP. */
  readonly path: string | null;
  readonly method: string | null;
  /** The trusted client address, or null when unknown. */
  readonly ip: string | null;
  /** Milliseconds since the epoch. */
  readonly at: number;
  readonly corsPreflight: boolean;
}
