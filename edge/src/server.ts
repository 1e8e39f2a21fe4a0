import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createTlsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { TCP_PATH, TUNNEL_PATH } from '@postern/shared';
import Fastify, { type FastifyInstance, type FastifyServerFactoryHandler } from 'fastify';
import { apiRoutes } from './api/index.js';
import { validationMessage } from './api/validation-message.js';
import { AuditLog } from './audit/audit-log.js';
import { BadTokenGuard } from './auth/bad-token-guard.js';
import { BackchannelLogout } from './auth/backchannel-logout.js';
import type { AuthContext } from './auth/context.js';
import { HandoffConsent } from './auth/handoff-consent.js';
import { TunnelCredentialSweep } from './auth/tunnel-credentials.js';
import { DeviceFlow } from './auth/device-flow.js';
import { deviceRoutes } from './auth/device-routes.js';
import { IdentityUpdater } from './auth/identity-change.js';
import { SessionRevalidator } from './auth/revalidation.js';
import { TOUCH_FLUSH_MS } from './auth/sessions.js';
import { ChangeReactions } from './cluster/change-reactions.js';
import { rpLogoutRoutes } from './auth/rp-logout.js';
import { authRoutes } from './auth/routes.js';
import type { EdgeConfig } from './config.js';
import { CompiledPolicies } from './policy/compiled-policies.js';
import { OpenStreams, reportCuts } from './policy/open-streams.js';
import { ControlPlane } from './control/control-plane.js';
import { QuickShareReaper } from './control/reaper.js';
import { EdgeError } from './errors.js';
import { closeAfterAnswer } from './limits/linger.js';
import { ProxyLimits } from './limits/proxy-limits.js';
import { RateLimits } from './limits/rate-limits.js';
import { LimitReporter } from './limits/reporter.js';
import { clientErrorHandler, connectionsCheckingInterval, headersKeptByNode, tooManyHeaders } from './limits/request-head.js';
import { ProxyTrust } from './net/client-address.js';
import { ConnectionGuard } from './net/connection-guard.js';
import { HSTS_HEADER, hstsPolicy } from './net/hsts.js';
import { loadTlsCredentials, secureContextOptions, type TlsCredentials } from './net/tls.js';
import { AccessLog } from './observability/access-log.js';
import { EdgeHealth } from './observability/health.js';
import { accessLogEnabled, edgeLoggerOptions } from './observability/logging.js';
import { EDGE_LABEL, EdgeMetrics, type DenialVia } from './observability/metrics.js';
import type { StoreHealth } from './observability/store-health.js';
import { assignRequestId, requestIdOf, REQUEST_ID_HEADER } from './observability/request-id.js';
import { sendError, sendErrorOnSocket } from './pages/error-page.js';
import { EDGE_PAGE_HEADERS } from './pages/frame-protection.js';
import { portalRoutes } from './portal/routes.js';
import { containRequest } from './proxy/exchange-faults.js';
import { SocketGate } from './proxy/gate.js';
import { ProxyHandler } from './proxy/handler.js';
import { continueIfExpected } from './proxy/http.js';
import { ReservedPaths } from './proxy/reserved.js';
import { HostRouter, type Route } from './proxy/router.js';
import { StrictIntake } from './proxy/strict-http.js';
import type { Store } from './store/index.js';
import { storeOutageOf } from './store-outage.js';
import { ExpiredRowPruner } from './store/pruner.js';
import { TcpAccess } from './tcp/access.js';
import { TcpEndpoint } from './tcp/endpoint.js';
import { EdgeRelay } from './relay/edge-relay.js';
import { LINK_PATH, LinkEndpoint } from './relay/link-endpoint.js';
import { LiveEdgeList } from './relay/live-edges.js';
import { LINK_CONNECT_TIMEOUT_MS, PeerLinks } from './relay/peer-links.js';
import { TunnelEndpoint } from './tunnel/endpoint.js';
import { TunnelRegistry } from './tunnel/registry.js';

export interface EdgeDeps {
  readonly store: Store;
  readonly auth: AuthContext;
  /** Whether the database answers (started and stopped by the caller, like the store). */
  readonly storeHealth: StoreHealth;
  /** Already loaded from config.tls (startEdge checks them before opening anything); read here when absent. */
  readonly tls?: TlsCredentials | undefined;
}

export interface Edge {
  readonly app: FastifyInstance;
  readonly server: Server;
  readonly registry: TunnelRegistry;
  readonly audit: AuditLog;
  readonly reaper: QuickShareReaper;
  readonly metrics: EdgeMetrics;
  readonly health: EdgeHealth;
  /** Jobs that stop with the edge: expired-row pruning, the tunnel token sweep. */
  readonly pruner: ExpiredRowPruner;
  readonly tunnelCredentials: TunnelCredentialSweep;
  /** Checks each session with its IdP every --session-revalidate. */
  readonly revalidator: SessionRevalidator;
  /** Acts on the change feed: evicts caches, closes what a revocation or socket change ends. */
  readonly reactions: ChangeReactions;
  /** The links to and from the other edges (PostgreSQL store); undefined for a lone edge. */
  readonly cluster: ClusterLinks | undefined;
}

/** What an edge of a cluster holds besides a lone edge: its links to peers, the endpoint of theirs, the live edge list. */
export interface ClusterLinks {
  readonly links: PeerLinks;
  readonly endpoint: LinkEndpoint;
  readonly liveEdges: LiveEdgeList;
  readonly relay: EdgeRelay;
}

/** Where a peer edge's link upgrade lands: any host that is not a socket's (peers dial the advertised address). */
function clusterLinks(config: EdgeConfig, store: Store, registry: TunnelRegistry, log: FastifyInstance['log'], metrics: EdgeMetrics): ClusterLinks | undefined {
  if (!config.cluster) return undefined;
  const { self, presence, lease } = store.cluster;
  const timing = { connectTimeoutMs: LINK_CONNECT_TIMEOUT_MS, pingIntervalMs: config.tunnelPingIntervalMs, deadAfterMs: config.tunnelPingTimeoutMs };
  const links = new PeerLinks(self, config.cluster.secret, timing, config.limits.tunnelMaxMessageBytes);
  return {
    links,
    endpoint: new LinkEndpoint(config.cluster.secret, self.edgeId, config, registry, log, metrics),
    liveEdges: new LiveEdgeList(lease),
    relay: new EdgeRelay(presence, links, metrics),
  };
}

const unknownHost = (host: string) =>
  new EdgeError('SOCKET_NOT_FOUND', `There is no socket at ${host || 'this address'} on this edge.`);

/**
 * Builds the edge without listening (tests call it directly). Requests for the edge's own host go
 * through Fastify (API, pages); requests for socket hosts take a direct path to the proxy, so the
 * data path pays for no routing or hooks it does not use.
 */
export function buildServer(config: EdgeConfig, deps: EdgeDeps): Edge {
  const { store, auth, storeHealth } = deps;
  const { limits } = config;
  const registry = new TunnelRegistry(limits.maxStreamsPerConnection, store.cluster.presence);
  const router = new HostRouter(config, store);
  const strict = new StrictIntake();
  const trust = new ProxyTrust(config);
  const hsts = hstsPolicy(config);
  const tls = config.tls ? (deps.tls ?? loadTlsCredentials(config.tls)) : undefined;
  let server: Server | undefined;
  let reporter: LimitReporter | undefined;
  const limitReporter = (): LimitReporter => reporter!;

  const serverFactory = (handler: FastifyServerFactoryHandler): Server => {
    const options = {
      maxHeaderSize: config.maxHeaderBytes,
      requestTimeout: 0, // large uploads may take long; bodies have their own idle timeout (limits/request-body.ts)
      headersTimeout: limits.headerTimeoutMs,
      connectionsCheckingInterval: connectionsCheckingInterval(limits.headerTimeoutMs),
      keepAliveTimeout: limits.keepAliveTimeoutMs,
      // The edge refuses a missing Host itself (proxy/strict-http.ts), so it also drops what was pipelined after it.
      requireHostHeader: false,
    };
    // Same routing either way: the HTTPS server emits the same request and upgrade events.
    // A silent connection is closed by the first-byte timeout (net/connection-guard.ts); a TLS
    // handshake that started gets as long as a request head (Node's default would be 120 s).
    server = tls ? createTlsServer({ ...options, ...secureContextOptions(tls), handshakeTimeout: limits.headerTimeoutMs }) : createServer(options);
    server.maxHeadersCount = headersKeptByNode(limits.maxHeaderCount);
    new ConnectionGuard(limits, trust, limitReporter).attach(server);
    server.on('request', (req: IncomingMessage, res: ServerResponse) => {
      assignRequestId(req);
      trust.identify(req);
      // Refused before routing, and the connection closed after the answer: its framing is in doubt.
      const intake = strict.check(req, false);
      if (intake.kind === 'drop') return;
      if (intake.kind === 'refuse') {
        res.shouldKeepAlive = false;
        return proxy.rejectUnrouted(req, res, req.headers.host ?? '', intake.error);
      }
      const tooMany = tooManyHeaders(req, limits.maxHeaderCount, limitReporter());
      const routed = router.route(req.headers.host);
      if (!(routed instanceof Promise)) return dispatchRequest(req, res, routed, tooMany, handler);
      routed
        .then((route) => dispatchRequest(req, res, route, tooMany, handler))
        .catch((err: unknown) => routingFailed(err, req, 'http', (error) => (res.headersSent ? res.destroy() : sendError(req, res, error))));
    });
    /** A request once its host is known (synchronously while the socket is cached). */
    const dispatchRequest = (req: IncomingMessage, res: ServerResponse, route: Route, tooMany: EdgeError | undefined, handler: FastifyServerFactoryHandler): void => {
      // The proxy writes the edge's headers into each answer itself (one writeHead, no header map).
      if (!tooMany && route.kind === 'socket') {
        const { socket, host } = route;
        return containRequest(
          () => proxy.handleRequest(req, res, socket, host),
          (fault) => access.begin(req, host, socket.id, 'http').fault(fault),
          (err) => (storeRefused(err, 'http'), res.headersSent ? res.destroy() : (res.setHeader(REQUEST_ID_HEADER, requestIdOf(req)), sendError(req, res, err))),
        );
      }
      res.setHeader(REQUEST_ID_HEADER, requestIdOf(req));
      const sts = hsts(req);
      if (sts) res.setHeader(HSTS_HEADER, sts);
      if (tooMany) {
        closeAfterAnswer(req, res);
        return sendError(req, res, tooMany);
      }
      // The IdP's server-to-server logout POST: answered before Fastify, so no browser-form check applies (auth/backchannel-logout.ts).
      if (route.kind === 'edge' && backchannel.handles(req)) return backchannel.handle(req, res);
      if (route.kind === 'edge') {
        // The edge's own pages (sign-in, hand-off, sign-out, device approval) are never framed.
        for (const [name, value] of Object.entries(EDGE_PAGE_HEADERS)) res.setHeader(name, value);
        continueIfExpected(req, res);
        return handler(req, res);
      }
      proxy.rejectUnrouted(req, res, route.host, unknownHost(route.host));
    };
    // Without this Node answers "100 Continue" before any check: the edge sends it itself, once it takes the body.
    server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => server!.emit('request', req, res));
    server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => {
      assignRequestId(req);
      socket.on('error', () => socket.destroy());
      trust.identify(req);
      const intake = strict.check(req, true);
      if (intake.kind === 'drop') return void socket.end();
      if (intake.kind === 'refuse') return sendErrorOnSocket(req, socket, intake.error);
      const tooMany = tooManyHeaders(req, limits.maxHeaderCount, limitReporter());
      if (tooMany) return sendErrorOnSocket(req, socket, tooMany);
      const routed = router.route(req.headers.host);
      if (!(routed instanceof Promise)) return dispatchUpgrade(req, socket, head, routed);
      routed
        .then((route) => dispatchUpgrade(req, socket, head, route))
        .catch((err: unknown) => routingFailed(err, req, 'websocket', (error) => ((socket as Partial<Socket>).bytesWritten ? socket.destroy() : sendErrorOnSocket(req, socket, error))));
    });
    const dispatchUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer, route: Route): void => {
      if (route.kind === 'socket') {
        return containRequest(
          () => proxy.handleUpgrade(req, socket, head, route.socket, route.host),
          (fault) => access.begin(req, route.host, route.socket.id, 'websocket').fault(fault),
          // A socket that already carried the app's answer (bytes written) is cut, not given a second answer.
          (err) => (storeRefused(err, 'websocket'), (socket as Partial<Socket>).bytesWritten ? socket.destroy() : sendErrorOnSocket(req, socket, err)),
        );
      }
      if (route.kind === 'edge' && req.url === TUNNEL_PATH) return tunnels.handleUpgrade(req, socket, head);
      if (cluster && req.url === LINK_PATH) return cluster.endpoint.handleUpgrade(req, socket, head);
      if (route.kind === 'edge' && req.url === TCP_PATH) return tcp.handleUpgrade(req, socket, head);
      sendErrorOnSocket(req, socket, route.kind === 'edge' ? new EdgeError('NOT_FOUND', 'No WebSocket endpoint here.') : unknownHost(route.host));
    };
    return server;
  };

  const app = Fastify({
    serverFactory,
    clientErrorHandler: clientErrorHandler(limitReporter, { maxHeaderBytes: config.maxHeaderBytes, headerTimeoutMs: limits.headerTimeoutMs, domain: config.domain }),
    // Unknown fields are refused with a message, not silently dropped.
    ajv: { customOptions: { removeAdditional: false } },
    logger: edgeLoggerOptions(config.logLevel),
    // The id given on arrival (above); a client's X-Request-Id is never taken as ours.
    genReqId: requestIdOf,
  });

  /** The socket could not be read: this request fails closed (503 if the store is down, counted; else logged once). */
  const routingFailed = (err: unknown, req: IncomingMessage, via: DenialVia, answer: (error: EdgeError) => void): void => {
    const outage = storeOutageOf(err);
    if (outage) storeRefused(outage, via);
    else app.log.error({ err, reqId: requestIdOf(req) }, 'request failed: its socket could not be read');
    answer(outage ?? new EdgeError('INTERNAL', 'internal error'));
  };
  const metrics = new EdgeMetrics(registry, storeHealth);
  const cluster = clusterLinks(config, store, registry, app.log, metrics);
  reporter = new LimitReporter(app.log, Date.now, (limit) => metrics.limitHit(limit));
  const proxyLimits = new ProxyLimits(limits, reporter);
  const audit = new AuditLog(store.audit, app.log);
  const health = new EdgeHealth(storeHealth, store.cluster.lease);
  const storeDown = (since: number) =>
    app.log.error({ since: new Date(since).toISOString() }, 'store down: the database does not answer; requests that need it get 503, cached sessions serve for --store-outage-grace');
  const storeBack = (downMs: number) => app.log.info({ down_ms: downMs }, 'store back: the database answers again');
  storeHealth.on('down', storeDown).on('up', storeBack);
  app.addHook('onClose', async () => void storeHealth.off('down', storeDown).off('up', storeBack));
  /** A request refused because the store did not answer: the monitor hears of it at once, and it is counted. */
  const storeRefused = (err: EdgeError, via: DenialVia): void => {
    if (storeHealth.report(err)) metrics.refused(err.code, via);
  };
  const control = new ControlPlane(store, registry, router, auth.live, audit, metrics);
  const devices = new DeviceFlow(store, audit, auth.edgeUrl, auth.idp);
  const reaper = new QuickShareReaper(store, registry, control, config.quickShareTimeoutMs, (err) => app.log.error({ err }, 'quick share sweep failed'));
  const policies = new CompiledPolicies(store);
  const streams = new OpenStreams(policies, store, reportCuts(audit, app.log));
  app.addHook('onClose', async () => streams.stop());
  const rateLimits = new RateLimits(config.rateLimits, app.log);
  const badTokens = new BadTokenGuard(rateLimits);
  const gate = new SocketGate(config, store, auth, badTokens, policies, streams, audit);
  const consent = new HandoffConsent(store, auth.sessions, audit, (socket) => policies.of(socket));
  const pruner = new ExpiredRowPruner(store.sql, config.auth.sessionIdleMs);
  pruner.start(
    store.cluster,
    (counts) => app.log.info({ deleted: counts }, 'expired sessions, sign-ins and codes pruned'),
    (err) => app.log.error({ err }, 'pruning expired rows failed; the next run tries again'),
  );
  const tunnelCredentials = new TunnelCredentialSweep(registry, store.tokens, (tokenId, reason) => control.endTunnelsOfToken(tokenId, reason), app.log);
  const reactions = new ChangeReactions(store.cluster.changes, {
    store, sessions: auth.sessions, tokens: auth.tokens, gate, signer: auth.signer, live: auth.live, router, policies, streams, control, tunnelCredentials, log: app.log,
  });
  // Sessions seen are written in one statement every half minute, not one per session per minute.
  const touches = setInterval(() => void flushTouches(), TOUCH_FLUSH_MS).unref();
  const flushTouches = () => auth.sessions.flushTouches().catch((err: unknown) => app.log.warn({ err }, 'session last-seen times not written; retried at the next flush'));
  app.addHook('onClose', async () => {
    clearInterval(touches);
    await reactions.stop();
    await flushTouches();
  });
  const backchannel = new BackchannelLogout(store, auth.providers, auth.idp, audit, app.log);
  const revalidator = new SessionRevalidator({
    store,
    idp: auth.idp,
    providers: auth.providers,
    identities: new IdentityUpdater(store, auth.sessions, auth.live, streams, config.auth.sessionIdleMs),
    audit,
    log: app.log,
    periodMs: config.auth.sessionRevalidateMs,
    idleMs: config.auth.sessionIdleMs,
  });
  const access = new AccessLog(app.log, metrics, accessLogEnabled(config.logLevel));
  const proxy = new ProxyHandler({ config, registry, log: app.log, gate, auth, reserved: new ReservedPaths(config, auth), audit, access, limits: proxyLimits, hsts, relay: cluster?.relay });
  const tunnels = new TunnelEndpoint(config, store, registry, app.log, audit, metrics, reporter, badTokens, auth.tokens, cluster?.liveEdges.current);
  const tcp = new TcpEndpoint(config, new TcpAccess(config, store, registry, gate, audit, app.log, badTokens, auth.tokens), auth.live, audit, app.log, metrics, proxyLimits, cluster?.relay);

  app.setErrorHandler((err: Error & { validation?: Parameters<typeof validationMessage>[1]; validationContext?: string; statusCode?: number }, request, reply) => {
    // Fail closed: a sign-in, page or API call that needed the database gets 503; pages get the edge's page.
    const outage = storeOutageOf(err);
    if (outage) {
      storeRefused(outage, 'http');
      if (!request.url.startsWith('/api/')) {
        sendError(request.raw, reply.raw, outage);
        return reply.hijack();
      }
    }
    const clientFault = err.validation !== undefined || (err.statusCode !== undefined && err.statusCode < 500);
    const message = err.validation ? validationMessage(err.validationContext, err.validation) : err.message;
    const edgeErr =
      outage ?? (err instanceof EdgeError ? err : clientFault ? new EdgeError('BAD_REQUEST', message) : new EdgeError('INTERNAL', 'internal error'));
    if (edgeErr.code === 'INTERNAL') request.log.error({ err }, 'request failed');
    reply.code(edgeErr.status).headers(edgeErr.headers).header('postern-error', edgeErr.code).send(edgeErr.toJSON());
  });
  app.setNotFoundHandler((request, reply) => {
    sendError(request.raw, reply.raw, new EdgeError('NOT_FOUND', `Nothing at ${request.url} on this edge.`));
    reply.hijack();
  });

  app.addHook('onResponse', async (_request, reply) => metrics.requestDone(EDGE_LABEL, reply.statusCode, reply.elapsedTime / 1000, 0, 0));
  app.get('/healthz', async () => health.live());
  app.get('/readyz', async (_request, reply) => {
    const ready = await health.ready();
    return reply.code(ready.ok ? 200 : 503).header('cache-control', 'no-store').send(ready);
  });
  // Without Upgrade the TCP path only checks access: `postern tcp --listen` fails fast, before it listens.
  app.get(TCP_PATH, async (request) => tcp.preflight(request.raw));
  app.register(portalRoutes, { config, store, auth, registry, policies });
  // Sign-in and device forms post url-encoded bodies; small ones only.
  app.addContentTypeParser('application/x-www-form-urlencoded', { parseAs: 'string', bodyLimit: 8 * 1024 }, (_req, body, done) =>
    done(null, Object.fromEntries(new URLSearchParams(body as string))),
  );
  app.register(apiRoutes, { prefix: '/api/v1', config, store, registry, control, reaper, devices, limits: rateLimits, policies, streams });
  app.register(authRoutes, { config, store, auth, router, audit, limits: rateLimits, metrics, consent });
  app.register(deviceRoutes, { config, store, auth, devices, limits: rateLimits });
  app.register(rpLogoutRoutes, { config });

  if (!server) throw new Error('fastify did not create the HTTP server');
  return { app, server, registry, audit, reaper, metrics, health, pruner, tunnelCredentials, revalidator, reactions, cluster };
}
