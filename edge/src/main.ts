import type { Server as HttpServer } from 'node:http';
import { Server as HttpsServer } from 'node:https';
import { CloseCode } from '@postern/shared';
import { createAuthContext, type AuthContext } from './auth/context.js';
import type { EdgeConfig } from './config.js';
import { createRedirectServer } from './net/http-redirect.js';
import { loadTlsCredentials, secureContextOptions } from './net/tls.js';
import { buildServer, type Edge } from './server.js';
import { Store } from './store/index.js';

export interface RunningEdge {
  readonly url: string;
  readonly port: number;
  readonly edge: Edge;
  /** The `--http-redirect-listen` port, when there is one. */
  readonly redirectPort: number | undefined;
  /**
   * Re-reads the TLS certificate and key (SIGHUP, after a renewal). New connections get the new
   * pair, open ones keep theirs; a pair that fails to load is logged and the old one kept.
   */
  reloadTls(): void;
  /** Stops accepting, tells connectors to go away, waits for in-flight requests (up to graceMs). */
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
  const store = Store.open(config.dbPath);
  let edge: Edge;
  let auth: AuthContext;
  const redirect = config.httpRedirect ? createRedirectServer(config) : undefined;
  let redirectPort: number | undefined;
  try {
    const warnings: string[] = [];
    auth = await createAuthContext(config, store, (msg) => warnings.push(msg));
    edge = buildServer(config, { store, auth, tls });
    for (const msg of warnings) edge.app.log.warn(msg);
    await edge.app.listen({
      host: config.listenHost,
      port: config.listenPort,
      // Fastify names the scheme from its own `https` option, which a server factory bypasses.
      listenTextResolver: (address) => `Server listening at ${tls ? address.replace(/^http:/, 'https:') : address}`,
    });
    if (redirect && config.httpRedirect) redirectPort = await listenOn(redirect, config.httpRedirect.host, config.httpRedirect.port);
  } catch (err) {
    redirect?.close();
    store.close();
    throw err;
  }
  const address = edge.server.address();
  const port = typeof address === 'object' && address ? address.port : config.listenPort;
  const log = edge.app.log;
  if (tls) log.info({ names: tls.names, valid_to: tls.validTo, fingerprint256: tls.fingerprint256 }, 'tls certificate loaded');
  if (redirect && config.httpRedirect) log.info({ listen: `${config.httpRedirect.host}:${redirectPort}` }, 'http redirect listening');
  log.info({ listen: `${config.listenHost}:${port}`, domain: config.domain, scheme: config.publicScheme, db: config.dbPath }, 'edge listening');

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
  const close = (graceMs = 10_000): Promise<void> =>
    (closing ??= (async () => {
      edge.server.close();
      redirect?.close();
      redirect?.closeAllConnections();
      const deadline = Date.now() + graceMs;
      const busy = () => edge.registry.all().some((c) => c.inFlight > 0);
      while (busy() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
      for (const conn of edge.registry.all()) conn.session.destroy(CloseCode.GOING_AWAY, 'edge shutting down');
      edge.server.closeAllConnections();
      await edge.app.close();
      auth.live.stop();
      edge.audit.stop();
      edge.reaper.stop();
      store.close();
      edge.app.log.info('edge stopped');
    })());

  return { url: `${config.publicScheme}://${config.domain}`, port, edge, redirectPort, reloadTls, close };
}
