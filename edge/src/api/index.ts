import swagger from '@fastify/swagger';
import type { FastifyInstance } from 'fastify';
import type { DeviceFlow } from '../auth/device-flow.js';
import type { EdgeConfig } from '../config.js';
import type { ControlPlane } from '../control/control-plane.js';
import type { CompiledPolicies } from '../policy/compiled-policies.js';
import type { OpenStreams } from '../policy/open-streams.js';
import type { QuickShareReaper } from '../control/reaper.js';
import type { RateLimits } from '../limits/rate-limits.js';
import type { Store } from '../store/index.js';
import type { TunnelRegistry } from '../tunnel/registry.js';
import { auditRoutes } from './audit.js';
import { requireToken } from './authenticate.js';
import { deviceApiRoutes } from './device.js';
import { policyRoutes } from './policy.js';
import { auditEventSchema, errorSchema, socketSchema, tokenSchema, tunnelSchema } from './schemas.js';
import { socketRoutes } from './sockets.js';
import { tokenRoutes } from './tokens.js';
import { tunnelRoutes } from './tunnels.js';

export interface ApiDeps {
  readonly config: EdgeConfig;
  readonly store: Store;
  readonly registry: TunnelRegistry;
  readonly control: ControlPlane;
  readonly reaper: Pick<QuickShareReaper, 'removalAt'>;
  readonly devices: DeviceFlow;
  readonly limits: RateLimits;
  readonly policies: CompiledPolicies;
  readonly streams: OpenStreams;
}

/** The REST API under `/api/v1`, described by the OpenAPI document at `/api/v1/openapi.json`. */
export async function apiRoutes(app: FastifyInstance, options: ApiDeps): Promise<void> {
  // Only the dependencies travel on: the options also carry this plugin's own `prefix`.
  const { config, store, registry, control, reaper, devices, limits, policies, streams } = options;
  const deps: ApiDeps = { config, store, registry, control, reaper, devices, limits, policies, streams };
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Postern edge API',
        version: '1.0.0',
        description: 'Everything the postern CLI does. Authenticate with `Authorization: Bearer pst_…`. Errors are `{"error":{"code","message"}}` with a stable code. Over a rate limit: 429 `RATE_LIMITED` with `Retry-After`.',
      },
      servers: [{ url: `${deps.config.publicScheme}://${deps.config.domain}/api/v1` }],
      components: { securitySchemes: { token: { type: 'http', scheme: 'bearer' } } },
      security: [{ token: [] }],
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => (typeof json.$id === 'string' ? json.$id : `def-${i}`) },
  });
  for (const schema of [errorSchema, socketSchema, tunnelSchema, tokenSchema, auditEventSchema]) app.addSchema(schema);

  app.get('/openapi.json', { schema: { hide: true } }, async () => app.swagger());
  await app.register(deviceApiRoutes, deps);
  await app.register(async (authenticated) => {
    requireToken(authenticated, deps.store, deps.limits);
    await authenticated.register(tokenRoutes, deps);
    await authenticated.register(socketRoutes, deps);
    await authenticated.register(policyRoutes, deps);
    await authenticated.register(tunnelRoutes, deps);
    await authenticated.register(auditRoutes, deps);
  });
}
