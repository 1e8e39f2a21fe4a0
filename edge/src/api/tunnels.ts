import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ControlPlane } from '../control/control-plane.js';
import { EdgeError } from '../errors.js';
import type { Store } from '../store/index.js';
import type { TunnelRecord } from '../store/tunnels.js';
import type { TunnelRegistry } from '../tunnel/registry.js';
import { accountOf, actorOf, requirePublisher } from './authenticate.js';
import { authErrors, idParams, listOf, ref } from './schemas.js';
import { ConnectionCensus, tunnelView } from './views.js';

export interface CreateTunnelBody {
  socket_id: string;
  name?: string;
  ephemeral?: boolean;
}

export interface TunnelRouteDeps {
  readonly store: Store;
  readonly registry: TunnelRegistry;
  readonly control: ControlPlane;
}

/** `/api/v1/tunnels`: the attachment points connectors serve a socket through. */
export async function tunnelRoutes(app: FastifyInstance, deps: TunnelRouteDeps): Promise<void> {
  const { store, registry, control } = deps;
  const census = () => ConnectionCensus.take(store.cluster, registry);

  const ownTunnel = async (request: FastifyRequest<{ Params: { id: string } }>): Promise<TunnelRecord> => {
    const tunnel = await store.tunnels.findById(request.params.id);
    if (!tunnel || tunnel.accountId !== accountOf(request).id) throw new EdgeError('TUNNEL_NOT_FOUND', `tunnel ${request.params.id} does not exist`);
    return tunnel;
  };

  app.post<{ Body: CreateTunnelBody }>(
    '/tunnels',
    {
      schema: {
        summary: 'Create a tunnel for a socket',
        body: {
          type: 'object',
          additionalProperties: false,
          required: ['socket_id'],
          properties: {
            socket_id: { type: 'string', pattern: '^sck_[a-z0-9]{12}$' },
            name: { type: 'string', maxLength: 63 },
            ephemeral: { type: 'boolean' },
          },
        },
        response: { 201: ref('Tunnel'), ...authErrors, 403: ref('Error'), 404: ref('Error') },
      },
    },
    async (request, reply) => {
      const account = requirePublisher(request);
      const socket = await store.sockets.findById(request.body.socket_id);
      if (!socket || socket.accountId !== account.id) throw new EdgeError('SOCKET_NOT_FOUND', `socket ${request.body.socket_id} does not exist`);
      const tunnel = await store.tunnels.create({
        socketId: socket.id,
        accountId: account.id,
        name: request.body.name ?? '',
        ephemeral: request.body.ephemeral ?? false,
      });
      control.tunnelCreated(tunnel, actorOf(request));
      return reply.code(201).send(tunnelView(tunnel, await census()));
    },
  );

  app.get<{ Querystring: { socket?: string } }>(
    '/tunnels',
    {
      schema: {
        summary: 'List your tunnels',
        querystring: { type: 'object', additionalProperties: false, properties: { socket: { type: 'string', pattern: '^sck_[a-z0-9]{12}$' } } },
        response: { 200: listOf('Tunnel'), ...authErrors },
      },
    },
    async (request) => {
      const accountId = accountOf(request).id;
      const { socket } = request.query;
      const tunnels = socket ? (await store.tunnels.listBySocket(socket)).filter((t) => t.accountId === accountId) : await store.tunnels.listByAccount(accountId);
      const live = await census();
      return tunnels.map((t) => tunnelView(t, live));
    },
  );

  app.get<{ Params: { id: string } }>(
    '/tunnels/:id',
    { schema: { summary: 'Show one tunnel', params: idParams('tun'), response: { 200: ref('Tunnel'), ...authErrors, 404: ref('Error') } } },
    async (request) => tunnelView(await ownTunnel(request), await census()),
  );

  app.delete<{ Params: { id: string } }>(
    '/tunnels/:id',
    { schema: { summary: 'Delete a tunnel and close its connections', params: idParams('tun'), response: { 204: { type: 'null' }, ...authErrors, 404: ref('Error') } } },
    async (request, reply) => {
      await control.deleteTunnel(await ownTunnel(request), actorOf(request));
      return reply.code(204).send();
    },
  );
}
