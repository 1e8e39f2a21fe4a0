import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { Duplex } from 'node:stream';
import { TCP_PATH, TUNNEL_PATH } from '@postern/shared';
import Fastify, { type FastifyInstance, type FastifyRequest, type FastifyServerFactoryHandler } from 'fastify';
import { apiRoutes } from './api/index.js';
import { validationMessage } from './api/validation-message.js';
import { AuditLog } from './audit/audit-log.js';
import type { AuthContext } from './auth/context.js';
import { DeviceFlow } from './auth/device-flow.js';
import { deviceRoutes } from './auth/device-routes.js';
import { authRoutes } from './auth/routes.js';
import type { EdgeConfig } from './config.js';
import { ControlPlane } from './control/control-plane.js';
import { EphemeralReaper } from './control/reaper.js';
import { EdgeError } from './errors.js';
import { clientAddress, ProxyTrust } from './net/client-address.js';
import { HSTS_HEADER, hstsPolicy } from './net/hsts.js';
import { loadTlsCredentials, secureContextOptions, type TlsCredentials } from './net/tls.js';
import { sendError, sendErrorOnSocket } from './pages/error-page.js';
import { portalRoutes } from './portal/routes.js';
import { SocketGate } from './proxy/gate.js';
import { ProxyHandler } from './proxy/handler.js';
import { ReservedPaths } from './proxy/reserved.js';
import { HostRouter } from './proxy/router.js';
import type { Store } from './store/index.js';
import { TcpAccess } from './tcp/access.js';
import { TcpEndpoint } from './tcp/endpoint.js';
import { TunnelEndpoint } from './tunnel/endpoint.js';
import { TunnelRegistry } from './tunnel/registry.js';

export interface EdgeDeps {
  readonly store: Store;
  readonly auth: AuthContext;
  /** Already loaded from config.tls (startEdge checks them before opening anything); read here when absent. */
  readonly tls?: TlsCredentials | undefined;
}

export interface Edge {
  readonly app: FastifyInstance;
  readonly server: Server;
  readonly registry: TunnelRegistry;
  readonly audit: AuditLog;
  readonly reaper: EphemeralReaper;
}

const unknownHost = (host: string) =>
  new EdgeError('SOCKET_NOT_FOUND', `There is no socket at ${host || 'this address'} on this edge.`);

/**
 * Builds the edge without listening (tests call it directly). Requests for the edge's own host go
 * through Fastify (API, pages); requests for socket hosts take a direct path to the proxy, so the
 * data path pays for no routing or hooks it does not use.
 */
export function buildServer(config: EdgeConfig, deps: EdgeDeps): Edge {
  const { store, auth } = deps;
  const registry = new TunnelRegistry();
  const router = new HostRouter(config, store);
  const trust = new ProxyTrust(config);
  const hsts = hstsPolicy(config);
  const tls = config.tls ? (deps.tls ?? loadTlsCredentials(config.tls)) : undefined;
  let server: Server | undefined;

  const serverFactory = (handler: FastifyServerFactoryHandler): Server => {
    const options = {
      maxHeaderSize: config.maxHeaderBytes,
      requestTimeout: 0, // large uploads may take long; header time is bounded below
      headersTimeout: 30_000,
      keepAliveTimeout: 65_000,
    };
    // Same routing either way: the HTTPS server emits the same request and upgrade events.
    server = tls ? createTlsServer({ ...options, ...secureContextOptions(tls) }) : createServer(options);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      trust.identify(req);
      const sts = hsts(req);
      if (sts) res.setHeader(HSTS_HEADER, sts);
      const route = router.route(req.headers.host);
      if (route.kind === 'edge') return handler(req, res);
      if (route.kind === 'unknown') return proxy.reject(req, res, unknownHost(route.host));
      proxy.handleRequest(req, res, route.socket, route.host);
    });
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      socket.on('error', () => socket.destroy());
      trust.identify(req);
      const route = router.route(req.headers.host);
      if (route.kind === 'socket') return proxy.handleUpgrade(req, socket, head, route.socket, route.host);
      if (route.kind === 'edge' && req.url === TUNNEL_PATH) return tunnels.handleUpgrade(req, socket, head);
      if (route.kind === 'edge' && req.url === TCP_PATH) return tcp.handleUpgrade(req, socket, head);
      sendErrorOnSocket(req, socket, route.kind === 'edge' ? new EdgeError('NOT_FOUND', 'No WebSocket endpoint here.') : unknownHost(route.host));
    });
    return server;
  };

  const app = Fastify({
    serverFactory,
    // Unknown fields are refused with a message, not silently dropped.
    ajv: { customOptions: { removeAdditional: false } },
    logger: {
      level: config.logLevel,
      redact: ['req.headers.authorization', 'req.headers.cookie', 'res.headers["set-cookie"]'],
      serializers: {
        // Fastify's own fields, with the client address the edge works out (net/client-address.ts), not the TCP peer.
        req: (request: FastifyRequest) => ({ method: request.method, url: request.url, host: request.host, remoteAddress: clientAddress(request.raw), remotePort: request.socket?.remotePort }),
      },
    },
  });

  const audit = new AuditLog(store.audit, app.log);
  const control = new ControlPlane(store, registry, router, auth.live, audit);
  const devices = new DeviceFlow(store, audit, auth.edgeUrl);
  const reaper = new EphemeralReaper(store, registry, control);
  const gate = new SocketGate(config, store, auth);
  const proxy = new ProxyHandler(config, registry, app.log, gate, auth, new ReservedPaths(config, auth), audit);
  const tunnels = new TunnelEndpoint(config, store, registry, app.log, audit);
  const tcp = new TcpEndpoint(config, new TcpAccess(config, store, registry, gate, audit, app.log), auth.live, audit, app.log);

  app.setErrorHandler((err: Error & { validation?: Parameters<typeof validationMessage>[1]; validationContext?: string; statusCode?: number }, request, reply) => {
    const clientFault = err.validation !== undefined || (err.statusCode !== undefined && err.statusCode < 500);
    const message = err.validation ? validationMessage(err.validationContext, err.validation) : err.message;
    const edgeErr =
      err instanceof EdgeError ? err : clientFault ? new EdgeError('BAD_REQUEST', message) : new EdgeError('INTERNAL', 'internal error');
    if (edgeErr.code === 'INTERNAL') request.log.error({ err }, 'request failed');
    reply.code(edgeErr.status).header('postern-error', edgeErr.code).send(edgeErr.toJSON());
  });
  app.setNotFoundHandler((request, reply) => {
    sendError(request.raw, reply.raw, new EdgeError('NOT_FOUND', `Nothing at ${request.url} on this edge.`));
    reply.hijack();
  });

  app.get('/healthz', async () => ({ ok: true }));
  // Without Upgrade the TCP path only checks access: `postern tcp --listen` fails fast, before it listens.
  app.get(TCP_PATH, async (request) => tcp.preflight(request.raw));
  app.register(portalRoutes, { config, store, auth, registry, gate });
  // Sign-in and device forms post url-encoded bodies; small ones only.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 8 * 1024 }, (_req, body, done) =>
    done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );
  app.register(apiRoutes, { prefix: '/api/v1', config, store, registry, control, devices });
  app.register(authRoutes, { config, store, auth, router, audit });
  app.register(deviceRoutes, { config, store, auth, devices });

  if (!server) throw new Error('fastify did not create the HTTP server');
  return { app, server, registry, audit, reaper };
}
