import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ControlPlane } from '../control/control-plane.js';
import { EdgeError } from '../errors.js';
import type { Store } from '../store/index.js';
import type { ApiToken } from '../store/tokens.js';
import { accountOf, actorOf } from './authenticate.js';
import { authErrors, listOf, ref } from './schemas.js';
import { tokenView } from './views.js';

interface CreateTokenBody {
  name?: string;
  expires_in_seconds?: number;
}

const MAX_EXPIRY_S = 5 * 365 * 24 * 3600;

/** `whoami` and `/api/v1/tokens`: who the token belongs to; create, list and revoke tokens. */
export async function tokenRoutes(app: FastifyInstance, deps: { readonly store: Store; readonly control: ControlPlane }): Promise<void> {
  const { store, control } = deps;
  const current = (request: FastifyRequest): ApiToken => {
    if (!request.apiToken) throw new EdgeError('UNAUTHORIZED', 'not authenticated');
    return request.apiToken;
  };

  app.get(
    '/whoami',
    {
      schema: {
        summary: 'The account and token of this request',
        response: {
          200: {
            type: 'object',
            properties: { id: { type: 'string' }, email: { type: 'string' }, publisher: { type: 'boolean' }, token: ref('Token') },
          },
          ...authErrors,
        },
      },
    },
    async (request) => {
      const account = accountOf(request);
      const token = current(request);
      return { id: account.id, email: account.email, publisher: account.publisher, token: tokenView(token, token.id) };
    },
  );

  app.get('/tokens', { schema: { summary: 'List your tokens (never their secrets)', response: { 200: listOf('Token'), ...authErrors } } }, async (request) =>
    (await store.tokens.listByAccount(accountOf(request).id)).map((t) => tokenView(t, current(request).id)),
  );

  app.post<{ Body: CreateTokenBody }>(
    '/tokens',
    {
      schema: {
        summary: 'Create a token; its secret is in this answer only',
        body: {
          type: 'object',
          additionalProperties: false,
          properties: { name: { type: 'string', maxLength: 100 }, expires_in_seconds: { type: 'integer', minimum: 60, maximum: MAX_EXPIRY_S } },
        },
        response: {
          201: { type: 'object', properties: { token: { type: 'string' }, id: { type: 'string' }, name: { type: 'string' }, expires_at: { type: ['string', 'null'] } } },
          ...authErrors,
        },
      },
    },
    async (request, reply) => {
      const account = accountOf(request);
      const expiresAt = request.body.expires_in_seconds ? Date.now() + request.body.expires_in_seconds * 1000 : null;
      // A token made from a token keeps the signed-in identity behind it (its groups count in policies).
      const { token, record } = await store.tokens.create(account.id, request.body.name ?? '', expiresAt, current(request).userId);
      control.tokenCreated(record, actorOf(request), 'api');
      return reply.code(201).send({ token, id: record.id, name: record.name, expires_at: expiresAt === null ? null : new Date(expiresAt).toISOString() });
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/tokens/:id',
    {
      schema: {
        summary: 'Revoke a token ("current" for the one making this request); its tunnels and streams close',
        params: { type: 'object', required: ['id'], properties: { id: { type: 'string', pattern: '^(current|tok_[a-z0-9]{10})$' } } },
        response: { 204: { type: 'null' }, ...authErrors, 404: ref('Error') },
      },
    },
    async (request, reply) => {
      const id = request.params.id === 'current' ? current(request).id : request.params.id;
      const token = await store.tokens.findById(id);
      if (!token || token.accountId !== accountOf(request).id) throw new EdgeError('TOKEN_NOT_FOUND', `token ${id} does not exist`);
      await control.revokeToken(token, actorOf(request));
      return reply.code(204).send();
    },
  );
}
