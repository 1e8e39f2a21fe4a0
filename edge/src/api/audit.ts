import type { FastifyInstance } from 'fastify';
import { EdgeError } from '../errors.js';
import type { Store } from '../store/index.js';
import { accountOf } from './authenticate.js';
import { authErrors, listOf } from './schemas.js';
import { auditView } from './views.js';

interface AuditQuery {
  socket?: string;
  since?: string;
  limit?: number;
}

/** `GET /api/v1/audit`: events about the caller's sockets, tunnels and tokens, newest first. */
export async function auditRoutes(app: FastifyInstance, deps: { readonly store: Store }): Promise<void> {
  app.get<{ Querystring: AuditQuery }>(
    '/audit',
    {
      schema: {
        summary: 'Read the audit log',
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            socket: { type: 'string', pattern: '^sck_[a-z0-9]{12}$' },
            since: { type: 'string', format: 'date-time', description: 'ISO 8601 time; events at or after it' },
            limit: { type: 'integer', minimum: 1, maximum: 1000, default: 100 },
          },
        },
        response: { 200: listOf('AuditEvent'), ...authErrors },
      },
    },
    async (request) => {
      const since = request.query.since === undefined ? undefined : Date.parse(request.query.since);
      if (since !== undefined && Number.isNaN(since)) throw new EdgeError('BAD_REQUEST', `since must be an ISO 8601 time, not "${request.query.since}"`);
      const events = await deps.store.audit.list({
        accountId: accountOf(request).id,
        ...(request.query.socket ? { socketId: request.query.socket } : {}),
        ...(since !== undefined ? { since } : {}),
        limit: request.query.limit ?? 100,
      });
      return events.map(auditView);
    },
  );
}
