import { CloseCode, ErrorCode, startMonitoringServer, type MonitoringServer } from '@postern/shared';
import { createAuthContext, type AuthContext } from './auth/context.js';
import { ConfigError, type EdgeConfig } from './config.js';
import { buildServer, type Edge } from './server.js';
import { Store } from './store/index.js';

export interface RunningEdge {
  readonly url: string;
  readonly port: number;
  readonly edge: Edge;
  /** The `--metrics-listen` listener (/metrics, /healthz, /readyz), when asked for. */
  readonly monitoring: MonitoringServer | undefined;
  /** Drains (see `drain`) for up to graceMs (default: the configured shutdown grace), then closes everything. */
  close(graceMs?: number): Promise<void>;
}

/** Opens the database, builds the edge and listens. */
export async function startEdge(config: EdgeConfig): Promise<RunningEdge> {
  const store = Store.open(config.dbPath);
  let edge: Edge;
  let auth: AuthContext;
  let monitoring: MonitoringServer | undefined;
  try {
    const warnings: string[] = [];
    auth = await createAuthContext(config, store, (msg) => warnings.push(msg));
    edge = buildServer(config, { store, auth });
    for (const msg of warnings) edge.app.log.warn(msg);
    monitoring = config.metricsListen && (await startMonitoring(edge, config.metricsListen));
    await edge.app.listen({ host: config.listenHost, port: config.listenPort });
  } catch (err) {
    await monitoring?.close();
    store.close();
    throw err;
  }
  const address = edge.server.address();
  const port = typeof address === 'object' && address ? address.port : config.listenPort;
  if (monitoring) edge.app.log.info({ metrics: `${monitoring.url}/metrics` }, 'metrics listening');
  edge.app.log.info({ listen: `${config.listenHost}:${port}`, domain: config.domain, db: config.dbPath }, 'edge listening');

  let closing: Promise<void> | undefined;
  const close = (graceMs = config.shutdownGraceMs): Promise<void> =>
    (closing ??= (async () => {
      await drain(edge, graceMs);
      for (const conn of edge.registry.all()) conn.session.destroy(CloseCode.GOING_AWAY, 'edge shutting down');
      edge.server.closeAllConnections();
      await edge.app.close();
      auth.live.stop();
      edge.audit.stop();
      edge.reaper.stop();
      await monitoring?.close();
      store.close();
      edge.app.log.info('edge stopped');
    })());

  return { url: `${config.publicScheme}://${config.domain}`, port, edge, monitoring, close };
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
    throw new ConfigError(`cannot listen on ${listen.host}:${listen.port} for --metrics-listen: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
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
  const busy = () => edge.registry.all().some((c) => c.inFlight > 0);
  while (busy() && Date.now() < deadline) {
    edge.server.closeIdleConnections();
    await new Promise((r) => setTimeout(r, 50));
  }
}
