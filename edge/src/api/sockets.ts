import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { EdgeConfig } from '../config.js';
import type { ControlPlane } from '../control/control-plane.js';
import type { QuickShareReaper } from '../control/reaper.js';
import { EdgeError } from '../errors.js';
import { normalizeDomain, normalizeEmail } from '../policy/email.js';
import { isUsableIdentityHeaderName } from '../proxy/headers.js';
import type { Store } from '../store/index.js';
import { socketNameProblem } from '../store/labels.js';
import { LabelTakenError, type SocketPatch, type SocketRecord } from '../store/sockets.js';
import type { TunnelRegistry } from '../tunnel/registry.js';
import { accountOf, actorOf, requirePublisher } from './authenticate.js';
import { authErrors, idParams, limitProperties, listOf, ref, ruleProperties, socketName } from './schemas.js';
import { socketView, type SocketView } from './socket-view.js';
import { socketStatus } from './views.js';

/** The rule fields of `POST /api/v1/sockets` and `PATCH /api/v1/sockets/:id`. */
export interface SocketRulesBody {
  cloudauth?: boolean;
  allowed_email_domains?: string[];
  allowed_email_addresses?: string[];
  allowed_github_orgs?: string[];
  allowed_github_teams?: string[];
  allowed_groups?: string[];
  identity_headers?: { email?: string; user?: string };
}

/** Limits a socket's owner may set; null returns to the edge's default. */
export interface SocketLimitsBody {
  max_body_bytes?: number | null;
  /** Let cookie-authenticated POST/PUT/PATCH/DELETE from other origins through (default false). */
  allow_cross_origin_requests?: boolean;
}

/** The body of `POST /api/v1/sockets` (the CLI sends the same shape). */
export interface CreateSocketBody extends SocketRulesBody, SocketLimitsBody {
  name: string;
  protocol?: 'http' | 'tcp';
  ephemeral?: boolean;
}

export interface UpdateSocketBody extends SocketRulesBody, SocketLimitsBody {
  name?: string;
}

type Rules = Required<Omit<SocketPatch, 'name' | 'maxBodyBytes' | 'allowCrossOriginRequests'>>;

const slug = /^[a-z0-9](?:[a-z0-9-]{0,38})$/i;

function normalizeDomains(raw: readonly string[]): string[] {
  return raw.map((value) => {
    const wildcard = value.trim().startsWith('*.');
    const domain = normalizeDomain(wildcard ? value.trim().slice(2) : value);
    if (!domain) throw new EdgeError('BAD_REQUEST', `"${value}" is not an email domain (write corp.com, or *.corp.com for its subdomains)`);
    return wildcard ? `*.${domain}` : domain;
  });
}

function normalizeAddresses(raw: readonly string[]): string[] {
  return raw.map((value) => {
    const email = normalizeEmail(value.trim());
    if (!email) throw new EdgeError('BAD_REQUEST', `"${value}" is not an email address`);
    return email;
  });
}

function normalizeOrgs(raw: readonly string[]): string[] {
  return raw.map((org) => {
    if (!slug.test(org)) throw new EdgeError('BAD_REQUEST', `"${org}" is not a GitHub organisation name`);
    return org.toLowerCase();
  });
}

function normalizeTeams(raw: readonly string[]): string[] {
  return raw.map((value) => {
    const [org, team, extra] = value.split('/');
    if (!org || !team || extra !== undefined || !slug.test(org) || !/^[a-z0-9_.-]{1,100}$/i.test(team)) {
      throw new EdgeError('BAD_REQUEST', `"${value}" is not a GitHub team (write org/team-slug)`);
    }
    return value.toLowerCase();
  });
}

function checkIdentityHeaders(names: { email?: string; user?: string }): { email?: string; user?: string } {
  for (const name of [names.email, names.user]) {
    if (name !== undefined && !isUsableIdentityHeaderName(name)) {
      throw new EdgeError('BAD_REQUEST', `"${name}" cannot carry the user's identity: it is a framing, credential or edge-owned header`);
    }
  }
  return names;
}

/**
 * The complete rule set after applying `body` to `base` (empty for a new socket), normalised and
 * checked as a whole, refusing the first bad value with a message that names it.
 */
function resolveRules(body: SocketRulesBody, base: Rules | undefined, protocol: SocketRecord['protocol']): Rules {
  const rules: Rules = {
    cloudauth: base?.cloudauth ?? false,
    allowedEmailDomains: body.allowed_email_domains ? normalizeDomains(body.allowed_email_domains) : (base?.allowedEmailDomains ?? []),
    allowedEmailAddresses: body.allowed_email_addresses ? normalizeAddresses(body.allowed_email_addresses) : (base?.allowedEmailAddresses ?? []),
    allowedGithubOrgs: body.allowed_github_orgs ? normalizeOrgs(body.allowed_github_orgs) : (base?.allowedGithubOrgs ?? []),
    allowedGithubTeams: body.allowed_github_teams ? normalizeTeams(body.allowed_github_teams) : (base?.allowedGithubTeams ?? []),
    allowedGroups: body.allowed_groups ?? base?.allowedGroups ?? [],
    identityHeaders: body.identity_headers ? checkIdentityHeaders(body.identity_headers) : (base?.identityHeaders ?? {}),
  };
  const anyRule =
    rules.allowedEmailDomains.length + rules.allowedEmailAddresses.length + rules.allowedGithubOrgs.length +
      rules.allowedGithubTeams.length + rules.allowedGroups.length > 0;
  if (body.cloudauth === false && anyRule) {
    throw new EdgeError('BAD_REQUEST', 'access rules need sign-in: drop cloudauth=false, or remove the rules to publish openly');
  }
  if (protocol === 'tcp' && body.cloudauth === false) {
    throw new EdgeError('BAD_REQUEST', 'TCP sockets always check who connects (through "postern tcp"); they cannot be public');
  }
  // Rules only make sense behind sign-in: giving one turns it on. TCP sockets are never public.
  return { ...rules, cloudauth: protocol === 'tcp' || anyRule || (body.cloudauth ?? rules.cloudauth) };
}

function checkName(name: string): void {
  const problem = socketNameProblem(name);
  if (problem) throw new EdgeError(problem.includes('reserved') ? 'RESERVED_NAME' : 'BAD_REQUEST', problem);
}

export interface SocketRouteDeps {
  readonly config: EdgeConfig;
  readonly store: Store;
  readonly registry: TunnelRegistry;
  readonly control: ControlPlane;
  readonly reaper: Pick<QuickShareReaper, 'removalAt'>;
}

/** `/api/v1/sockets`: create, list, show, update and delete the caller's sockets. */
export async function socketRoutes(app: FastifyInstance, deps: SocketRouteDeps): Promise<void> {
  const { config, store, registry, control, reaper } = deps;
  const view = (socket: SocketRecord): SocketView & ReturnType<typeof socketStatus> & { removal_at: string | null } => {
    const removalAt = reaper.removalAt(socket.id);
    return { ...socketView(socket, config), ...socketStatus(socket, registry), removal_at: removalAt === undefined ? null : new Date(removalAt).toISOString() };
  };

  const ownSocket = (request: FastifyRequest<{ Params: { id: string } }>): SocketRecord => {
    const socket = store.sockets.findById(request.params.id);
    // Another account's socket is reported as missing: ids are not an oracle.
    if (!socket || socket.accountId !== accountOf(request).id) throw new EdgeError('SOCKET_NOT_FOUND', `socket ${request.params.id} does not exist`);
    return socket;
  };

  app.post<{ Body: CreateSocketBody }>(
    '/sockets',
    {
      schema: {
        summary: 'Create a socket',
        description: 'Permanent sockets get the stable hostname <name>-<short account id>; ephemeral ones (quick shares) a random suffix.',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['name'],
          properties: { name: socketName, protocol: { type: 'string', enum: ['http', 'tcp'] }, ephemeral: { type: 'boolean' }, ...ruleProperties, ...limitProperties },
        },
        response: { 201: ref('Socket'), ...authErrors, 403: ref('Error'), 409: ref('Error') },
      },
    },
    async (request, reply) => {
      const account = requirePublisher(request);
      checkName(request.body.name);
      const protocol = request.body.protocol ?? 'http';
      const rules = resolveRules(request.body, undefined, protocol);
      let socket: SocketRecord;
      try {
        socket = store.sockets.create({
          accountId: account.id,
          name: request.body.name.trim(),
          protocol,
          ephemeral: request.body.ephemeral ?? false,
          maxBodyBytes: request.body.max_body_bytes ?? null,
          allowCrossOriginRequests: request.body.allow_cross_origin_requests ?? false,
          ...rules,
        });
      } catch (err) {
        if (err instanceof LabelTakenError) throw new EdgeError('SOCKET_NAME_TAKEN', `${err.message}: pick another name, or delete that socket first`);
        throw err;
      }
      control.created(socket, actorOf(request));
      request.log.info({ socket: socket.id, label: socket.hostname }, 'socket created');
      return reply.code(201).send(view(socket));
    },
  );

  app.get('/sockets', { schema: { summary: 'List your sockets', response: { 200: listOf('Socket'), ...authErrors } } }, async (request) =>
    store.sockets.listByAccount(accountOf(request).id).map(view),
  );

  app.get<{ Params: { id: string } }>(
    '/sockets/:id',
    { schema: { summary: 'Show one socket', params: idParams('sck'), response: { 200: ref('Socket'), ...authErrors, 404: ref('Error') } } },
    async (request) => view(ownSocket(request)),
  );

  app.patch<{ Params: { id: string }; Body: UpdateSocketBody }>(
    '/sockets/:id',
    {
      schema: {
        summary: 'Change a socket’s name, rules or limits',
        description: 'Lists replace the old ones. The hostname never changes. Open WebSocket and TCP streams are closed so they are checked against the new rules.',
        params: idParams('sck'),
        body: { type: 'object', additionalProperties: false, minProperties: 1, properties: { name: socketName, ...ruleProperties, ...limitProperties } },
        response: { 200: ref('Socket'), ...authErrors, 404: ref('Error') },
      },
    },
    async (request) => {
      const socket = ownSocket(request);
      if (request.body.name !== undefined) checkName(request.body.name);
      const rules = resolveRules(request.body, socket, socket.protocol);
      const patch: SocketPatch = {
        ...rules,
        ...(request.body.name !== undefined ? { name: request.body.name.trim() } : {}),
        ...(request.body.max_body_bytes !== undefined ? { maxBodyBytes: request.body.max_body_bytes } : {}),
        ...(request.body.allow_cross_origin_requests !== undefined ? { allowCrossOriginRequests: request.body.allow_cross_origin_requests } : {}),
      };
      return view(control.update(socket, patch, actorOf(request), Object.keys(request.body)));
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/sockets/:id',
    { schema: { summary: 'Delete a socket, its tunnels and every connection to it', params: idParams('sck'), response: { 204: { type: 'null' }, ...authErrors, 404: ref('Error') } } },
    async (request, reply) => {
      const socket = ownSocket(request);
      control.delete(socket, actorOf(request));
      request.log.info({ socket: socket.id }, 'socket deleted');
      return reply.code(204).send();
    },
  );
}
