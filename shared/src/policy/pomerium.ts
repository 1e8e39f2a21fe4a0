/**
 * Pomerium routes → Postern socket entries. `from` names the socket (its first DNS label), `to`
 * becomes the connector's target, `allowed_users` / `allowed_domains` / `allowed_groups` the
 * default's lists; simple PPL `allow`/`deny` blocks of email, domain and group criteria become
 * rules. Whatever has no Postern meaning is reported, never dropped silently.
 */
import { parseYamlWithPositions, PolicyFileError, type SocketEntry } from './file.js';
import { normalizeEmail } from './email.js';
import type { Rule } from './types.js';

export interface PomeriumImport {
  readonly entries: readonly SocketEntry[];
  /** What could not be mapped (or was mapped with a change of meaning), one line each. */
  readonly report: readonly string[];
}

type Raw = Record<string, unknown>;

const isObject = (v: unknown): v is Raw => typeof v === 'object' && v !== null && !Array.isArray(v);
const strings = (v: unknown): string[] => (Array.isArray(v) ? v : v === undefined ? [] : [v]).map(String);

/** The route list of a policy file, a config.yaml (`routes:`/`policy:`) or Helm values (`config.policyFile`). */
function routesOf(doc: unknown): { routes: unknown[]; path: string[] } | undefined {
  if (Array.isArray(doc)) return { routes: doc, path: [] };
  if (!isObject(doc)) return undefined;
  for (const key of ['routes', 'policy']) if (Array.isArray(doc[key])) return { routes: doc[key] as unknown[], path: [key] };
  const config = doc.config;
  if (isObject(config)) {
    for (const key of ['policyFile', 'policy', 'routes']) if (Array.isArray(config[key])) return { routes: config[key] as unknown[], path: ['config', key] };
  }
  return undefined;
}

/** Route keys with no Postern meaning, and why. */
const UNMAPPED: Readonly<Record<string, string>> = {
  prefix: 'Postern serves a whole host from one target: write a rule with paths instead',
  path: 'Postern serves a whole host from one target: write a rule with paths instead',
  regex: 'Postern serves a whole host from one target: write a rule with paths instead',
  prefix_rewrite: 'the connector forwards paths as they are',
  regex_rewrite_pattern: 'the connector forwards paths as they are',
  regex_rewrite_substitution: 'the connector forwards paths as they are',
  allowed_idp_claims: 'Postern matches emails, domains, groups and GitHub orgs/teams',
  set_request_headers: 'Postern sets only its identity headers',
  remove_request_headers: 'Postern removes client identity headers itself',
  set_response_headers: 'Postern relays the app’s response headers',
  rewrite_response_headers: 'Postern relays the app’s response headers',
  tls_skip_verify: 'the connector speaks plain HTTP to its target',
  tls_server_name: 'the connector speaks plain HTTP to its target',
  tls_custom_ca: 'the connector speaks plain HTTP to its target',
  tls_client_cert: 'the connector speaks plain HTTP to its target',
  tls_client_key: 'the connector speaks plain HTTP to its target',
  timeout: 'the edge has one upstream timeout (--upstream-timeout)',
  idle_timeout: 'the edge has one idle timeout',
  kubernetes_service_account_token: 'not supported',
  load_balancing_policy: 'run several connectors instead: the edge balances them',
};

/** Keys that Postern does anyway. */
const ALWAYS = new Set(['allow_websockets', 'websocket', 'allow_spdy', 'name', 'description', 'id', 'logo']);

const IDENTITY_CRITERIA: Readonly<Record<string, [string, string]>> = { email: ['emails', 'is'], user: ['emails', 'is'], domain: ['domains', 'is'], groups: ['groups', 'has'] };

/** A PPL block's criteria as identity lists, or why not. */
function pplPeople(block: unknown, say: (msg: string) => void): Partial<Rule> | undefined {
  if (!isObject(block)) return say('is not a PPL block'), undefined;
  const ops = Object.keys(block);
  const criteria = ops.length === 1 && (ops[0] === 'or' || (ops[0] === 'and' && (block.and as unknown[]).length === 1)) ? (block[ops[0]] as unknown[]) : undefined;
  if (!Array.isArray(criteria)) return say(`only "or" of email, domain and groups criteria is mapped (found ${ops.join(', ')})`), undefined;
  const out: Record<string, string[]> = {};
  let anyone = false;
  for (const criterion of criteria) {
    const [name, matcher] = isObject(criterion) ? (Object.entries(criterion)[0] ?? []) : [];
    if (name === 'authenticated_user' || name === 'accept') {
      anyone = true;
      continue;
    }
    const known = name ? IDENTITY_CRITERIA[name] : undefined;
    const value = known && isObject(matcher) ? matcher[known[1]] : undefined;
    if (!known || typeof value !== 'string') return say(`the criterion ${JSON.stringify(criterion)} has no Postern equivalent`), undefined;
    (out[known[0]] ??= []).push(value);
  }
  return anyone ? { anyone_signed_in: true } : out;
}

function socketName(from: string): string | undefined {
  const host = /^(?:[a-z+]+:\/\/)?([^/:]+)/i.exec(from.trim())?.[1];
  return host?.split('.')[0]?.toLowerCase();
}

/** Converts the routes; throws PolicyFileError when the document has no routes at all. */
export function importPomerium(text: string, file: string): PomeriumImport {
  const { value, locate } = parseYamlWithPositions(text, file);
  const found = routesOf(value);
  if (!found) {
    throw new PolicyFileError(file, [{ path: [], message: 'no Pomerium routes here (expected a list of routes, or routes:, policy: or config.policyFile:)', ...locate([]) }]);
  }
  const entries: SocketEntry[] = [];
  const report: string[] = [];
  const names = new Map<string, number>();

  found.routes.forEach((route, i) => {
    const where = isObject(route) && typeof route.from === 'string' ? `routes[${i}] (${route.from})` : `routes[${i}]`;
    const say = (key: string, msg: string) => report.push(`${file}:${locate([...found.path, i, ...(key ? [key] : [])]).line}: ${where}: ${key ? `${key}: ` : ''}${msg}`);
    if (!isObject(route) || typeof route.from !== 'string') return say('', 'skipped: a route needs a "from" URL');
    const name = socketName(route.from);
    if (!name) return say('from', 'skipped: no host name in it');
    const first = names.get(name);
    if (first !== undefined) return say('from', `skipped: routes[${first}] already became the socket "${name}" (one socket serves one host from one target)`);
    names.set(name, i);

    const tcp = /^tcp\+/i.test(route.from);
    const entry: Record<string, unknown> = { name, protocol: tcp ? 'tcp' : 'http' };
    const targets = strings(route.to);
    if (targets.length > 1) say('to', `only the first target is used (${targets[0]}); run one connector per target for the others`);
    const target = targets[0];
    if (target !== undefined) {
      const url = /^([a-z+]+):\/\/([^/?#]+)(\/[^?#]*)?$/i.exec(target);
      const scheme = url?.[1]?.toLowerCase();
      if (!url || (url[3] && url[3] !== '/')) say('to', `not mapped: "${target}" has a path; the connector forwards to a host and port`);
      else if (scheme === 'https') say('to', `not mapped: "${target}" is https; the connector speaks plain HTTP to its target (set to: http://… by hand)`);
      else entry.to = `${tcp ? 'tcp' : 'http'}://${url[2]}`;
    }
    if (route.preserve_host_header !== true && !tcp) entry.rewrite_host = typeof route.host_rewrite === 'string' ? route.host_rewrite : true;

    const emails = strings(route.allowed_users);
    const notEmails = emails.filter((u) => normalizeEmail(u.trim()) === null);
    if (notEmails.length > 0) say('allowed_users', `not mapped: ${notEmails.join(', ')} (not email addresses; Postern matches users by verified email)`);
    const lists: Record<string, string[]> = {
      allowed_email_addresses: emails.filter((u) => !notEmails.includes(u)),
      allowed_email_domains: strings(route.allowed_domains),
      allowed_groups: strings(route.allowed_groups),
    };
    const rules: Record<string, unknown>[] = [];
    if (route.cors_allow_preflight === true && !tcp) rules.push({ cors_preflight: true, action: 'public' });

    for (const [i2, block] of (Array.isArray(route.policy) ? route.policy : route.policy === undefined ? [] : [route.policy]).entries()) {
      if (!isObject(block)) continue;
      for (const action of ['deny', 'allow'] as const) {
        if (block[action] === undefined) continue;
        const people = pplPeople(block[action], (msg) => say('policy', `policy[${i2}].${action}: not mapped: ${msg}`));
        if (people && Object.keys(people).length > 0) rules.push({ action, ...people });
      }
      for (const key of Object.keys(block)) if (key !== 'allow' && key !== 'deny') say('policy', `policy[${i2}].${key}: not mapped`);
    }

    const named = Object.values(lists).some((l) => l.length > 0);
    if (route.allow_public_unauthenticated_access === true) {
      if (tcp) say('allow_public_unauthenticated_access', 'not mapped: TCP sockets always check who connects');
      else if (named || rules.some((r) => r.action !== 'public')) say('allow_public_unauthenticated_access', 'not mapped: the route also names who may enter; Postern keeps sign-in');
      else entry.cloudauth = false;
    }
    if (entry.cloudauth === undefined) {
      if (route.allow_any_authenticated_user === true) {
        if (named) say('allow_any_authenticated_user', 'the lists are dropped: anyone signed in already includes them');
        entry.default = { action: 'allow', anyone_signed_in: true };
      } else {
        entry.cloudauth = true;
        for (const [key, list] of Object.entries(lists)) if (list.length > 0) entry[key] = list;
      }
    }
    if (rules.length > 0) entry.rules = rules;
    if (route.pass_identity_headers === false) say('pass_identity_headers', 'not mapped: Postern always sends X-Auth-Email, X-Auth-User and the signed X-Postern-Assertion');

    for (const key of Object.keys(route)) {
      if (UNMAPPED[key]) say(key, `not mapped: ${UNMAPPED[key]}`);
      else if (
        !ALWAYS.has(key) &&
        !['from', 'to', 'allowed_users', 'allowed_domains', 'allowed_groups', 'policy', 'cors_allow_preflight', 'pass_identity_headers', 'preserve_host_header', 'host_rewrite', 'allow_public_unauthenticated_access', 'allow_any_authenticated_user'].includes(key)
      ) {
        say(key, 'not mapped: unknown to the importer');
      }
    }
    entries.push(entry as SocketEntry);
  });
  return { entries, report };
}
