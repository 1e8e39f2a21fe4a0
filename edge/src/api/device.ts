import type { FastifyInstance } from 'fastify';
import type { DeviceFlow } from '../auth/device-flow.js';
import type { RateLimits } from '../limits/rate-limits.js';
import { clientAddress } from '../net/client-address.js';
import { ref } from './schemas.js';

/** The CLI half of `postern login` (no token yet, so no authentication): start, then poll. */
export async function deviceApiRoutes(app: FastifyInstance, deps: { readonly devices: DeviceFlow; readonly limits: RateLimits }): Promise<void> {
  app.post<{ Body: { client_name?: string } }>(
    '/device/code',
    {
      schema: {
        summary: 'Start a CLI sign-in (RFC 8628 device authorization)',
        body: { type: ['object', 'null'], additionalProperties: false, properties: { client_name: { type: 'string', maxLength: 100 } } },
        response: {
          200: {
            type: 'object',
            properties: {
              device_code: { type: 'string' },
              user_code: { type: 'string' },
              verification_uri: { type: 'string' },
              verification_uri_complete: { type: 'string' },
              expires_in: { type: 'integer' },
              interval: { type: 'integer' },
            },
          },
          400: ref('Error'),
          429: ref('Error'),
        },
      },
    },
    async (request) => {
      // Each start is a row in SQLite: a flood from one address must not fill the table.
      const refused = deps.limits.take(['deviceCodePerAddress', clientAddress(request.raw)]);
      if (refused) throw refused;
      return deps.devices.start((request.body?.client_name ?? 'unnamed computer').replace(/[^\x20-\x7e]/g, '?'), clientAddress(request.raw));
    },
  );

  app.post<{ Body: { device_code: string } }>(
    '/device/token',
    {
      schema: {
        summary: 'Poll for the token of an approved CLI sign-in',
        description: 'Until approved: 400 with code AUTHORIZATION_PENDING (or SLOW_DOWN); then the token, once.',
        body: { type: 'object', additionalProperties: false, required: ['device_code'], properties: { device_code: { type: 'string', minLength: 10, maxLength: 100 } } },
        response: {
          200: {
            type: 'object',
            properties: { token: { type: 'string' }, token_id: { type: 'string' }, email: { type: 'string' }, publisher: { type: 'boolean' }, expires_at: { type: 'string' } },
          },
          400: ref('Error'),
        },
      },
    },
    async (request) => deps.devices.poll(request.body.device_code, clientAddress(request.raw)),
  );
}
