import type { FastifyInstance, FastifyRequest } from 'fastify';
import { CloseCode } from '@postern/shared';
import type { EdgeConfig } from '../config.js';
import { EdgeError } from '../errors.js';
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

const createSocketSchema = {
  body: {
    type: 'object',
    additionalProperties: false,
    required: ['name'],
    properties: {
      name: socketName,
      protocol: { type: 'string', enum: ['http'] },
      ephemeral: { type: 'boolean' },
    },
  },
} as const;

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

  app.post<{ Body: { name: string; protocol?: 'http'; ephemeral?: boolean } }>(
    '/sockets',
    { schema: createSocketSchema },
    async (request, reply) => {
      const socket = store.sockets.create({
        accountId: request.account!.id,
        name: request.body.name,
        protocol: request.body.protocol ?? 'http',
        cloudauth: false,
        allowedEmailDomains: [],
        allowedEmailAddresses: [],
        ephemeral: request.body.ephemeral ?? false,
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
