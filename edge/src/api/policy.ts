import {
  normalizeEmail,
  PolicyError,
  policyInputSchema,
  requestPath,
  resolvePolicy,
  type Identity,
  type PolicyInput,
  type RequestFacts,
} from '@postern/shared/policy';
import type { FastifyInstance } from 'fastify';
import { EdgeError } from '../errors.js';
import type { CompiledPolicies } from '../policy/compiled-policies.js';
import { identityOf } from '../policy/identity.js';
import type { OpenStreams } from '../policy/open-streams.js';
import { outcomeOf, replay } from '../policy/replay.js';
import type { AuditEvent } from '../store/audit.js';
import type { Store } from '../store/index.js';
import { authErrors, idParams, ref } from './schemas.js';
import { callersSocket, policyRefusal } from './sockets.js';

export interface PolicyRouteDeps {
  readonly store: Store;
  readonly policies: CompiledPolicies;
  readonly streams: OpenStreams;
}

/** The body of `POST /api/v1/sockets/:id/policy/test`. */
export interface PolicyTestBody {
  email?: string;
  path?: string;
  method?: string;
  ip?: string;
  at?: string;
  groups?: string[];
  github_orgs?: string[];
  github_teams?: string[];
}

/** The answer of policy test: the contract's `{allow, rule, reason}`, and whom it decided for. */
export interface PolicyTestResult {
  readonly allow: boolean;
  readonly rule: number | null;
  readonly reason: string;
  readonly identity: { readonly email: string | null; readonly groups: readonly string[]; readonly github_orgs: readonly string[]; readonly github_teams: readonly string[]; readonly from: string };
}

/** The body of `POST /api/v1/sockets/:id/policy/diff`: a whole policy (as a postern.yaml entry gives it). */
export interface PolicyDiffBody {
  policy: PolicyInput;
  since?: string;
  at?: string;
}

const MAX_REPLAYED = 50_000;

const strings = { type: 'array', maxItems: 100, items: { type: 'string', minLength: 1, maxLength: 254 } } as const;
const time = { type: 'string', description: 'RFC 3339 time (default: now)' } as const;

function instant(text: string | undefined, name: string, fallback: number): number {
  if (text === undefined) return fallback;
  const ms = Date.parse(text);
  if (Number.isNaN(ms)) throw new EdgeError('BAD_REQUEST', `${name} must be an RFC 3339 time such as 2027-01-31T18:00:00Z, not "${text}"`);
  return ms;
}

/**
 * Whom `policy test` decides for: the email given, with the groups and GitHub orgs/teams given,
 * or else those of that person's last sign-in on this edge.
 */
async function testIdentity(store: Store, body: PolicyTestBody): Promise<PolicyTestResult['identity'] & { identity: Identity | null }> {
  if (body.email === undefined) return { email: null, groups: [], github_orgs: [], github_teams: [], from: 'not signed in', identity: null };
  const email = normalizeEmail(body.email.trim());
  if (!email) throw new EdgeError('BAD_REQUEST', `"${body.email}" is not an email address`);
  const given = body.groups !== undefined || body.github_orgs !== undefined || body.github_teams !== undefined;
  const user = given ? undefined : await store.users.latestByEmail(email);
  const groups = body.groups ?? user?.groups ?? [];
  const githubOrgs = body.github_orgs?.map((o) => o.toLowerCase()) ?? user?.githubOrgs ?? [];
  const githubTeams = body.github_teams?.map((t) => t.toLowerCase()) ?? user?.githubTeams ?? [];
  const from = given ? 'as given' : user ? 'their last sign-in' : 'the email alone (never signed in here)';
  return { email, groups, github_orgs: githubOrgs, github_teams: githubTeams, from, identity: { email, groups, githubOrgs, githubTeams } };
}

/** `policy test` and `policy diff`: a socket's policy explained for one request, and a new one replayed over its audit log. */
export async function policyRoutes(app: FastifyInstance, deps: PolicyRouteDeps): Promise<void> {
  const { store, policies, streams } = deps;

  app.post<{ Params: { id: string }; Body: PolicyTestBody }>(
    '/sockets/:id/policy/test',
    {
      schema: {
        summary: 'Explain the decision for one request',
        description: 'The decision, the rule that made it (0-based; null for the default) and why, in the words of the 403 page and the audit log.',
        params: idParams('sck'),
        body: {
          type: 'object',
          additionalProperties: false,
          properties: {
            email: { type: 'string', maxLength: 254, description: 'who asks (none: not signed in)' },
            path: { type: 'string', maxLength: 8192, description: 'default /' },
            method: { type: 'string', pattern: '^[A-Za-z]{1,20}$', description: 'default GET' },
            ip: { type: 'string', maxLength: 64, description: 'the client address (default: unknown)' },
            at: time,
            groups: strings,
            github_orgs: strings,
            github_teams: strings,
          },
        },
        response: { 200: { type: 'object', additionalProperties: true }, ...authErrors, 404: ref('Error') },
      },
    },
    async (request): Promise<PolicyTestResult> => {
      const socket = await callersSocket(store, request);
      const policy = await policies.of(socket);
      const { identity, ...who } = await testIdentity(store, request.body);
      const at = instant(request.body.at, 'at', Date.now());
      const ip = request.body.ip?.trim() || null;
      let facts: RequestFacts = { path: null, method: null, ip, at, corsPreflight: false };
      if (socket.protocol === 'http') {
        const target = request.body.path ?? '/';
        if (!target.startsWith('/')) throw new EdgeError('BAD_REQUEST', `the path must start with "/", not "${target}"`);
        const decoded = requestPath(target);
        if ('problem' in decoded && policy.usesPath) {
          return { allow: false, rule: null, reason: `refused (400): this app's access rules match on paths, and the request has ${decoded.problem}`, identity: who };
        }
        facts = { ...facts, path: 'path' in decoded ? decoded.path : target.split('?')[0]!, method: (request.body.method ?? 'GET').toUpperCase() };
      }
      return { ...outcomeOf(policy.decide(identity, facts)), identity: who };
    },
  );

  app.post<{ Params: { id: string }; Body: PolicyDiffBody }>(
    '/sockets/:id/policy/diff',
    {
      schema: {
        summary: 'Replay audited accesses through a new policy',
        description: 'Who would gain or lose access, on which paths, and which open WebSocket/TCP streams would be cut. Changes nothing.',
        params: idParams('sck'),
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['policy'],
          properties: {
            policy: { ...policyInputSchema, additionalProperties: false, description: 'rules, default and the allowed_* shorthand, as a postern.yaml entry gives them' },
            since: { ...time, description: 'replay accesses from this time on (default: 7 days ago)' },
            at: { ...time, description: 'decide every access at this instant instead of its own time' },
          },
        },
        response: { 200: { type: 'object', additionalProperties: true }, ...authErrors, 404: ref('Error') },
      },
    },
    async (request) => {
      const socket = await callersSocket(store, request);
      let next;
      try {
        next = await policies.compile(resolvePolicy(request.body.policy, undefined, socket.protocol), socket);
      } catch (err) {
        if (err instanceof PolicyError) throw policyRefusal(err);
        throw err;
      }
      const now = Date.now();
      const since = instant(request.body.since, 'since', now - 7 * 24 * 3600_000);
      const events = await store.audit.accessesOf(socket.id, since, MAX_REPLAYED + 1);
      const replayed = events.slice(0, MAX_REPLAYED);
      // Looked up once per (user, actor) before the replay, which decides synchronously.
      const lookups = new Map<string, Promise<Identity | null>>();
      const lookup = async (userId: string | undefined, actor: string): Promise<Identity | null> => {
        const user = (userId && (await store.users.findById(userId))) || (await store.users.latestByEmail(normalizeEmail(actor) ?? ''));
        return user ? identityOf(user) : { email: normalizeEmail(actor), groups: [], githubOrgs: [], githubTeams: [] };
      };
      const identityKey = (event: AuditEvent): string | undefined =>
        event.actor === null ? undefined : `${typeof event.detail.user_id === 'string' ? event.detail.user_id : ''}\n${event.actor}`;
      for (const event of replayed) {
        const key = identityKey(event);
        if (key === undefined || lookups.has(key)) continue;
        lookups.set(key, lookup(typeof event.detail.user_id === 'string' ? event.detail.user_id : undefined, event.actor!));
      }
      const identities = new Map<string, Identity | null>();
      for (const [key, found] of lookups) identities.set(key, await found);
      const identity = (event: AuditEvent): Identity | null => {
        const key = identityKey(event);
        return key === undefined ? null : identities.get(key)!;
      };
      return replay({
        since,
        events: replayed,
        truncated: events.length > MAX_REPLAYED,
        current: await policies.of(socket),
        next,
        streams: streams.of(socket.id),
        identityOf: identity,
        ...(request.body.at !== undefined ? { at: instant(request.body.at, 'at', now) } : {}),
        now,
      });
    },
  );
}
