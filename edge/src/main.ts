import type { Server as HttpServer } from 'node:http';
import { Server as HttpsServer } from 'node:https';
import { CloseCode, ErrorCode, startMonitoringServer, type MonitoringServer } from '@postern/shared';
import { createAuthContext, type AuthContext } from './auth/context.js';
import type { EdgeConfig } from './config.js';
import { createRedirectServer } from './net/http-redirect.js';
import { listenError } from './net/listen-error.js';
import { loadTlsCredentials, secureContextOptions } from './net/tls.js';
import { StoreHealth } from './observability/store-health.js';
import { buildServer, type Edge } from './server.js';
import { randomId } from './store/ids.js';
import { Store } from './store/index.js';
import { describeStore } from './store/sql/open.js';

export interface RunningEdge {
  readonly url: string;
  readonly port: number;
  readonly edge: Edge;
  /** The `--metrics-listen` listener (/metrics, /healthz, /readyz), when asked for. */
  readonly monitoring: MonitoringServer | undefined;
  /** The `--http-redirect-listen` port, when there is one. */
  readonly redirectPort: number | undefined;
  /**
   * Re-reads the TLS certificate and key (SIGHUP, after a renewal). New connections get the new
   * pair, open ones keep theirs; a pair that fails to load is logged and the old one kept.
   */
  reloadTls(): void;
  /** Drains (see `drain`) for up to graceMs (default: the configured shutdown grace), then closes everything. */
  close(graceMs?: number): Promise<void>;
}

const listenOn = (server: HttpServer, host: string, port: number): Promise<number> =>
  new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });

/** Opens the database, builds the edge and listens. */
export async function startEdge(config: EdgeConfig): Promise<RunningEdge> {
  // Certificate trouble is found before anything is opened or created.
  const tls = config.tls ? loadTlsCredentials(config.tls) : undefined;
  const self = { edgeId: `edge_${randomId(10)}`, advertiseUrl: config.cluster?.advertiseUrl ?? '' };
  const store = await Store.open(config.store, { self });
  const storeHealth = new StoreHealth(() => store.ping());
  let edge: Edge;
  let auth: AuthContext;
  let monitoring: MonitoringServer | undefined;
  const redirect = config.httpRedirect ? createRedirectServer(config) : undefined;
  let redirectPort: number | undefined;
  try {
    const warnings: string[] = [];
    auth = await createAuthContext(config, store, storeHealth, (msg) => warnings.push(msg));
    edge = buildServer(config, { store, auth, storeHealth, tls });
    // The lease and presence before the listener: a connector that lands here is findable by the peers.
    await store.cluster.start();
    edge.cluster?.liveEdges.start();
    for (const msg of warnings) edge.app.log.warn(msg);
    monitoring = config.metricsListen && (await startMonitoring(edge, config.metricsListen));
    await edge.app
      .listen({
        host: config.listenHost,
        port: config.listenPort,
        // Fastify names the scheme from its own `https` option, which a server factory bypasses.
        listenTextResolver: (address) => `Server listening at ${tls ? address.replace(/^http:/, 'https:') : address}`,
      })
      .catch((err: unknown) => {
        throw listenError(err, `${config.listenHost}:${config.listenPort}`, '--listen');
      });
    if (redirect && config.httpRedirect) {
      const { host, port } = config.httpRedirect;
      redirectPort = await listenOn(redirect, host, port).catch((err: unknown) => {
        throw listenError(err, `${host}:${port}`, '--http-redirect-listen');
      });
    }
  } catch (err) {
    redirect?.close();
    await monitoring?.close();
    await store.close();
    throw err;
  }
  storeHealth.start();
  const address = edge.server.address();
  const port = typeof address === 'object' && address ? address.port : config.listenPort;
  const log = edge.app.log;
  if (tls) log.info({ names: tls.names, valid_to: tls.validTo, fingerprint256: tls.fingerprint256 }, 'tls certificate loaded');
  if (redirect && config.httpRedirect) log.info({ listen: `${config.httpRedirect.host}:${redirectPort}` }, 'http redirect listening');
  if (monitoring) log.info({ metrics: `${monitoring.url}/metrics` }, 'metrics listening');
  log.info({ listen: `${config.listenHost}:${port}`, domain: config.domain, scheme: config.publicScheme, store: describeStore(config.store), edge_id: self.edgeId }, 'edge listening');

  const reloadTls = (): void => {
    const server = edge.server;
    if (!config.tls || !(server instanceof HttpsServer)) return log.info('SIGHUP: no TLS certificate to reload (the edge serves plain HTTP)');
    try {
      const next = loadTlsCredentials(config.tls);
      server.setSecureContext(secureContextOptions(next));
      log.info({ names: next.names, valid_to: next.validTo, fingerprint256: next.fingerprint256 }, 'tls certificate reloaded');
    } catch (err) {
      log.error(`tls certificate not reloaded, the previous one stays in use: ${(err as Error).message}`);
    }
  };

  let closing: Promise<void> | undefined;
  const close = (graceMs = config.shutdownGraceMs): Promise<void> =>
    (closing ??= (async () => {
      redirect?.close();
      redirect?.closeAllConnections();
      await drain(edge, graceMs);
      for (const conn of edge.registry.all()) conn.session.destroy(CloseCode.GOING_AWAY, 'edge shutting down');
      edge.server.closeAllConnections();
      edge.cluster?.endpoint.close();
      edge.cluster?.links.close();
      edge.cluster?.liveEdges.stop();
      await edge.revalidator.stop();
      await edge.app.close();
      auth.live.stop();
      await edge.audit.stop();
      await edge.reaper.stop();
      await edge.pruner.stop();
      edge.tunnelCredentials.stop();
      await monitoring?.close();
      storeHealth.stop();
      await store.close();
      edge.app.log.info('edge stopped');
    })());

  return { url: `${config.publicScheme}://${config.domain}`, port, edge, monitoring, redirectPort, reloadTls, close };
}

/** The monitoring listener: process metrics are collected only when someone can scrape them. */
async function startMonitoring(edge: Edge, listen: { host: string; port: number }): Promise<MonitoringServer> {
  edge.metrics.collectProcessMetrics();
  try {
    return await startMonitoringServer(listen.host, listen.port, {
      metrics: () => edge.metrics.registry.metrics(),
      metricsContentType: edge.metrics.registry.contentType,
      live: () => edge.health.live(),
      ready: () => edge.health.ready(),
    });
  } catch (err) {
    throw listenError(err, `${listen.host}:${listen.port}`, '--metrics-listen');
  }
}

/**
 * The first part of a graceful shutdown. The listener closes at once, so new connections are refused
 * and a load balancer sends them to another edge. Every connector gets GOAWAY (NO_ERROR, "edge
 * shutting down") and dials a replacement right away, which lands on another edge, while its
 * connection here keeps carrying what it carries. Requests in flight, and new ones on browser
 * connections still open, are served until none is left or `graceMs` passed; browser connections
 * are closed as soon as they fall idle.
 */
async function drain(edge: Edge, graceMs: number): Promise<void> {
  edge.health.draining = true; // /readyz answers 503 from now on
  edge.server.close();
  const tunnels = edge.registry.all();
  for (const conn of tunnels) conn.session.goAway(ErrorCode.NO_ERROR, 'edge shutting down');
  // One turn for the sessions to write their GOAWAY before anything may close them.
  await new Promise((r) => setImmediate(r));
  edge.app.log.info({ grace_ms: graceMs, tunnels: tunnels.length }, 'edge draining: listener closed, connectors told to go away');
  const deadline = Date.now() + graceMs;
  const busy = () => edge.registry.all().some((c) => c.inFlight > 0) || (edge.cluster?.links.inFlight ?? 0) > 0;
  while (busy() && Date.now() < deadline) {
    edge.server.closeIdleConnections();
    await new Promise((r) => setTimeout(r, 50));
  }
}
