import { CloseCode, ErrorCode } from '@postern/shared';
import { createAuthContext, type AuthContext } from './auth/context.js';
import type { EdgeConfig } from './config.js';
import { buildServer, type Edge } from './server.js';
import { Store } from './store/index.js';

export interface RunningEdge {
  readonly url: string;
  readonly port: number;
  readonly edge: Edge;
  /** Drains (see `drain`) for up to graceMs (default: the configured shutdown grace), then closes everything. */
  close(graceMs?: number): Promise<void>;
}

/** Opens the database, builds the edge and listens. */
export async function startEdge(config: EdgeConfig): Promise<RunningEdge> {
  const store = Store.open(config.dbPath);
  let edge: Edge;
  let auth: AuthContext;
  try {
    const warnings: string[] = [];
    auth = await createAuthContext(config, store, (msg) => warnings.push(msg));
    edge = buildServer(config, { store, auth });
    for (const msg of warnings) edge.app.log.warn(msg);
    await edge.app.listen({ host: config.listenHost, port: config.listenPort });
  } catch (err) {
    store.close();
    throw err;
  }
  const address = edge.server.address();
  const port = typeof address === 'object' && address ? address.port : config.listenPort;
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
      store.close();
      edge.app.log.info('edge stopped');
    })());

  return { url: `${config.publicScheme}://${config.domain}`, port, edge, close };
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
