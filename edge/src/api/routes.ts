import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CloseCode } from '@postern/shared';
import type { EdgeConfig } from '../config.js';
import { EdgeError } from '../errors.js';
import { normalizeDomain, normalizeEmail } from '../policy/email.js';
import type { Account } from '../store/accounts.js';
import type { Store } from '../store/index.js';
import type { HostRouter } from '../proxy/router.js';
import type { TunnelRegistry } from '../tunnel/registry.js';
import { socketView } from './socket-view.js';

export interface ApiDeps {
  readonly config: EdgeConfig;
  readonly store: Store;
  readonly registry: TunnelRegistry;
  readonly router: HostRouter;
}

declare module 'fastify' {
  interface FastifyRequest {
    account?: Account;
  }
}

const socketName = { type: 'string', minLength: 1, maxLength: 63 } as const;

const stringList = { type: 'array', maxItems: 100, items: { type: 'string', minLength: 1, maxLength: 254 } } as const;
const headerName = { type: 'string', pattern: '^[A-Za-z0-9-]{1,64}$' } as const;

const createSocketSchema = {
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['name'],
    properties: {
      name: socketName,
      protocol: { type: 'string', enum: ['http'] },
      ephemeral: { type: 'boolean' },
      cloudauth: { type: 'boolean' },
      allowed_email_domains: stringList,
      allowed_email_addresses: stringList,
      allowed_github_orgs: stringList,
      allowed_github_teams: stringList,
      allowed_groups: stringList,
      identity_headers: {
        type: 'object',
        additionalProperties: false,
        properties: { email: headerName, user: headerName },
      },
    },
  },
} as const;

/** The body of `POST /api/v1/sockets` (the CLI sends the same shape). */
export interface CreateSocketBody {
  name: string;
  protocol?: 'http';
  ephemeral?: boolean;
  cloudauth?: boolean;
  allowed_email_domains?: string[];
  allowed_email_addresses?: string[];
  allowed_github_orgs?: string[];
  allowed_github_teams?: string[];
  allowed_groups?: string[];
  identity_headers?: { email?: string; user?: string };
}

/** Normalises every rule, refusing the first bad one with a message that names it. */
function validateRules(body: CreateSocketBody) {
  const domains = (body.allowed_email_domains ?? []).map((raw) => {
    const wildcard = raw.trim().startsWith('*.');
    const domain = normalizeDomain(wildcard ? raw.trim().slice(2) : raw);
    if (!domain) throw new EdgeError('BAD_REQUEST', `"${raw}" is not an email domain (write corp.com, or *.corp.com for its subdomains)`);
    return wildcard ? `*.${domain}` : domain;
  });
  const addresses = (body.allowed_email_addresses ?? []).map((raw) => {
    const email = normalizeEmail(raw.trim());
    if (!email) throw new EdgeError('BAD_REQUEST', `"${raw}" is not an email address`);
    return email;
  });
  const slug = /^[a-z0-9](?:[a-z0-9-]{0,38})$/i;
  const orgs = (body.allowed_github_orgs ?? []).map((o) => {
    if (!slug.test(o)) throw new EdgeError('BAD_REQUEST', `"${o}" is not a GitHub organisation name`);
    return o.toLowerCase();
  });
  const teams = (body.allowed_github_teams ?? []).map((t) => {
    const [org, team, extra] = t.split('/');
    if (!org || !team || extra !== undefined || !slug.test(org) || !/^[a-z0-9_.-]{1,100}$/i.test(team)) {
      throw new EdgeError('BAD_REQUEST', `"${t}" is not a GitHub team (write org/team-slug)`);
    }
    return t.toLowerCase();
  });
  const anyRule = domains.length + addresses.length + orgs.length + teams.length + (body.allowed_groups?.length ?? 0) > 0;
  if (body.cloudauth === false && anyRule) {
    throw new EdgeError('BAD_REQUEST', 'access rules need sign-in: drop cloudauth=false, or drop the rules to publish openly');
  }
  return {
    // Rules only make sense behind sign-in: giving one turns sign-in on.
    cloudauth: body.cloudauth ?? anyRule,
    allowedEmailDomains: domains,
    allowedEmailAddresses: addresses,
    allowedGithubOrgs: orgs,
    allowedGithubTeams: teams,
    allowedGroups: body.allowed_groups ?? [],
    identityHeaders: body.identity_headers ?? {},
  };
}

const idParams = {
  params: {
    type: 'object',
    required: ['id'],
    properties: { id: { type: 'string', pattern: '^sck_[a-z0-9]{12}$' } },
  },
} as const;

/** Bearer-token authentication for the API: the token's account, or 401. */
function authenticate(store: Store, request: FastifyRequest): Account {
  const auth = request.headers.authorization;
  const token = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
  const record = token ? store.tokens.verify(token) : undefined;
  const account = record && store.accounts.findById(record.accountId);
  if (!account) throw new EdgeError('UNAUTHORIZED', 'missing, invalid, expired or revoked API token');
  return account;
}

/** The REST API the CLI drives (`/api/v1`). */
export async function apiRoutes(app: FastifyInstance, deps: ApiDeps): Promise<void> {
  const { store, config, registry, router } = deps;

  app.addHook('onRequest', async (request) => {
    request.account = authenticate(store, request);
  });

  app.get('/whoami', async (request) => {
    const account = request.account!;
    return { id: account.id, email: account.email };
  });

  app.post<{ Body: CreateSocketBody }>(
    '/sockets',
    { schema: createSocketSchema },
    async (request, reply) => {
      const socket = store.sockets.create({
        accountId: request.account!.id,
        name: request.body.name,
        protocol: request.body.protocol ?? 'http',
        ephemeral: request.body.ephemeral ?? false,
        ...validateRules(request.body),
      });
      router.forget(socket.hostname);
      request.log.info({ socket: socket.id, label: socket.hostname }, 'socket created');
      return reply.code(201).send(socketView(socket, config));
    },
  );

  app.get('/sockets', async (request) =>
    store.sockets.listByAccount(request.account!.id).map((s) => socketView(s, config)),
  );

  const ownSocket = (request: FastifyRequest<{ Params: { id: string } }>) => {
    const socket = store.sockets.findById(request.params.id);
    // Another account's socket is reported as missing: ids are not an oracle.
    if (!socket || socket.accountId !== request.account!.id) {
      throw new EdgeError('SOCKET_NOT_FOUND', `socket ${request.params.id} does not exist`);
    }
    return socket;
  };

  app.get<{ Params: { id: string } }>('/sockets/:id', { schema: idParams }, async (request) =>
    socketView(ownSocket(request), config),
  );

  app.delete<{ Params: { id: string } }>('/sockets/:id', { schema: idParams }, async (request, reply) => {
    const socket = ownSocket(request);
    store.sockets.delete(socket.id);
    router.forget(socket.hostname);
    for (const conn of registry.connections(socket.id)) conn.session.destroy(CloseCode.SOCKET_DELETED, 'socket was deleted');
    request.log.info({ socket: socket.id }, 'socket deleted');
    return reply.code(204).send();
  });
}
