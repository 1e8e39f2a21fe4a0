import { formatProblem, IDENTITY_FIELDS, PolicyError, resolvePolicy, type Policy, type PolicyInput } from '@postern/shared/policy';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { EdgeConfig } from '../config.js';
import type { ControlPlane } from '../control/control-plane.js';
import type { QuickShareReaper } from '../control/reaper.js';
import { EdgeError } from '../errors.js';
import { isUsableIdentityHeaderName } from '../proxy/headers.js';
import type { Store } from '../store/index.js';
import { socketNameProblem } from '../store/labels.js';
import { LabelTakenError, type SocketPatch, type SocketRecord } from '../store/sockets.js';
import type { TunnelRegistry } from '../tunnel/registry.js';
import { accountOf, actorOf, requirePublisher } from './authenticate.js';
import { authErrors, idParams, limitProperties, listOf, policyProperties, ref, socketName } from './schemas.js';
import { socketView, type SocketView } from './socket-view.js';
import { ConnectionCensus, socketStatus } from './views.js';

/** The policy fields of `POST /api/v1/sockets` and `PATCH /api/v1/sockets/:id` (a postern.yaml entry's, too). */
export interface SocketRulesBody extends PolicyInput {
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

function checkIdentityHeaders(names: { email?: string; user?: string }): { email?: string; user?: string } {
  for (const name of [names.email, names.user]) {
    if (name !== undefined && !isUsableIdentityHeaderName(name)) {
      throw new EdgeError('BAD_REQUEST', `"${name}" cannot carry the user's identity: it is a framing, credential or edge-owned header`);
    }
  }
  return names;
}

/** The shorthand keys name their value in the message already, as the flags' errors always did. */
const SHORTHAND = new Set(['cloudauth', ...IDENTITY_FIELDS.map((f) => f.shorthand)]);

/** A policy problem as the API answers it: the key (`rules[1].paths[0]: …`), then what is wrong. */
export function policyRefusal(err: PolicyError): EdgeError {
  const first = err.problems[0]!;
  const top = first.path[0];
  const message = typeof top === 'string' && SHORTHAND.has(top) ? first.message : formatProblem(first);
  const more = err.problems.length > 1 ? ` (and ${err.problems.length - 1} more)` : '';
  return new EdgeError('BAD_REQUEST', `${message}${more}`);
}

/** The socket's policy after `body` (normalised once, here), or the refusal naming the key at fault. */
function resolveBodyPolicy(body: SocketRulesBody, base: Policy | undefined, protocol: SocketRecord['protocol']): Policy {
  try {
    return resolvePolicy(body, base, protocol);
  } catch (err) {
    if (err instanceof PolicyError) throw policyRefusal(err);
    throw err;
  }
}

/** The caller's socket `:id`; another account's is reported as missing (ids are not an oracle). */
export async function callersSocket(store: Store, request: FastifyRequest<{ Params: { id: string } }>): Promise<SocketRecord> {
  const socket = await store.sockets.findById(request.params.id);
  if (!socket || socket.accountId !== accountOf(request).id) throw new EdgeError('SOCKET_NOT_FOUND', `socket ${request.params.id} does not exist`);
  return socket;
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
  const viewWith = (census: ConnectionCensus) => (socket: SocketRecord): SocketView & ReturnType<typeof socketStatus> & { removal_at: string | null } => {
    const removalAt = reaper.removalAt(socket.id);
    return { ...socketView(socket, config), ...socketStatus(socket, census), removal_at: removalAt === undefined ? null : new Date(removalAt).toISOString() };
  };
  /** A socket's view with its connections counted over the whole cluster. */
  const view = async (socket: SocketRecord) => viewWith(await ConnectionCensus.take(store.cluster, registry))(socket);

  const ownSocket = (request: FastifyRequest<{ Params: { id: string } }>): Promise<SocketRecord> => callersSocket(store, request);

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
          properties: { name: socketName, protocol: { type: 'string', enum: ['http', 'tcp'] }, ephemeral: { type: 'boolean' }, ...policyProperties, ...limitProperties },
        },
        response: { 201: ref('Socket'), ...authErrors, 403: ref('Error'), 409: ref('Error') },
      },
    },
    async (request, reply) => {
      const account = requirePublisher(request);
      checkName(request.body.name);
      const protocol = request.body.protocol ?? 'http';
      const policy = resolveBodyPolicy(request.body, undefined, protocol);
      const identityHeaders = checkIdentityHeaders(request.body.identity_headers ?? {});
      let socket: SocketRecord;
      try {
        socket = await store.sockets.create({
          accountId: account.id,
          name: request.body.name.trim(),
          protocol,
          ephemeral: request.body.ephemeral ?? false,
          maxBodyBytes: request.body.max_body_bytes ?? null,
          allowCrossOriginRequests: request.body.allow_cross_origin_requests ?? false,
          policy,
          identityHeaders,
        });
      } catch (err) {
        if (err instanceof LabelTakenError) throw new EdgeError('SOCKET_NAME_TAKEN', `${err.message}: pick another name, or delete that socket first`);
        throw err;
      }
      control.created(socket, actorOf(request));
      request.log.info({ socket: socket.id, label: socket.hostname }, 'socket created');
      return reply.code(201).send(await view(socket));
    },
  );

  app.get('/sockets', { schema: { summary: 'List your sockets', response: { 200: listOf('Socket'), ...authErrors } } }, async (request) =>
    (await store.sockets.listByAccount(accountOf(request).id)).map(viewWith(await ConnectionCensus.take(store.cluster, registry))),
  );

  app.get<{ Params: { id: string } }>(
    '/sockets/:id',
    { schema: { summary: 'Show one socket', params: idParams('sck'), response: { 200: ref('Socket'), ...authErrors, 404: ref('Error') } } },
    async (request) => view(await ownSocket(request)),
  );

  app.patch<{ Params: { id: string }; Body: UpdateSocketBody }>(
    '/sockets/:id',
    {
      schema: {
        summary: 'Change a socket’s name, rules or limits',
        description: 'Lists replace the old ones. The hostname never changes. Open WebSocket and TCP streams are closed so they are checked against the new rules.',
        params: idParams('sck'),
        body: { type: 'object', additionalProperties: false, minProperties: 1, properties: { name: socketName, ...policyProperties, ...limitProperties } },
        response: { 200: ref('Socket'), ...authErrors, 404: ref('Error') },
      },
    },
    async (request) => {
      const socket = await ownSocket(request);
      if (request.body.name !== undefined) checkName(request.body.name);
      const patch: SocketPatch = {
        policy: resolveBodyPolicy(request.body, socket.policy, socket.protocol),
        ...(request.body.identity_headers !== undefined ? { identityHeaders: checkIdentityHeaders(request.body.identity_headers) } : {}),
        ...(request.body.name !== undefined ? { name: request.body.name.trim() } : {}),
        ...(request.body.max_body_bytes !== undefined ? { maxBodyBytes: request.body.max_body_bytes } : {}),
        ...(request.body.allow_cross_origin_requests !== undefined ? { allowCrossOriginRequests: request.body.allow_cross_origin_requests } : {}),
      };
      return view(await control.update(socket, patch, actorOf(request), Object.keys(request.body)));
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/sockets/:id',
    { schema: { summary: 'Delete a socket, its tunnels and every connection to it', params: idParams('sck'), response: { 204: { type: 'null' }, ...authErrors, 404: ref('Error') } } },
    async (request, reply) => {
      const socket = await ownSocket(request);
      await control.delete(socket, actorOf(request));
      request.log.info({ socket: socket.id }, 'socket deleted');
      return reply.code(204).send();
    },
  );
}
