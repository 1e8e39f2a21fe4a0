import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { ErrorCode, MuxSession, type MuxStream, type OpenPreamble } from '@postern/shared';
import type { FastifyBaseLogger } from 'fastify';
import { WebSocketServer, type WebSocket } from 'ws';
import type { EdgeConfig } from '../config.js';
import { EdgeError } from '../errors.js';
import { clientAddress } from '../net/client-address.js';
import type { EdgeMetrics } from '../observability/metrics.js';
import { sendErrorOnSocket } from '../pages/error-page.js';
import type { TunnelRegistry } from '../tunnel/registry.js';
import { LinkVerifier } from './link-auth.js';
import { SplicedStream } from './splice.js';

/** Path of the edge-to-edge link on any host the edge answers that is not a socket's. */
export const LINK_PATH = '/v1/cluster/link';

/**
 * Accepts links from the other edges of the cluster (PostgreSQL store only): an upgrade whose
 * headers carry a MAC made with the cluster secret (link-auth.ts), then the tunnel's mux protocol
 * with this edge as the acceptor. Each stream names its socket; it is joined to a connection of that
 * socket on this edge (splice.ts), or refused when there is none, so the relaying edge tries another.
 * Policy, identity headers and limits were applied by the edge that took the request.
 */
export class LinkEndpoint {
  private readonly wss: WebSocketServer;
  private readonly verifier: LinkVerifier;
  private readonly sessions = new Set<MuxSession>();

  constructor(
    secret: string,
    edgeId: string,
    private readonly config: EdgeConfig,
    private readonly registry: TunnelRegistry,
    private readonly log: FastifyBaseLogger,
    private readonly metrics: EdgeMetrics,
  ) {
    this.verifier = new LinkVerifier(secret, edgeId);
    // Peers batch frames like connectors do (shared/session.ts): the same message limit.
    this.wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: config.limits.tunnelMaxMessageBytes });
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    const verdict = this.verifier.verify(req.headers);
    if (!verdict.ok) {
      this.metrics.relayFailed(`link_${verdict.reason}`);
      this.log.warn({ remote: clientAddress(req), reason: verdict.reason }, 'edge-to-edge link refused');
      req.headers.accept = 'application/json';
      return sendErrorOnSocket(req, socket, new EdgeError('UNAUTHORIZED', 'edge-to-edge link refused'));
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => this.serve(ws, verdict.from, clientAddress(req)));
  }

  /** Ends every link (the edge is stopping): their streams fail, and the peers try elsewhere. */
  close(): void {
    for (const session of this.sessions) session.destroy();
  }

  private serve(ws: WebSocket, peer: string, remote: string): void {
    const session = new MuxSession(ws, { role: 'connector', pingIntervalMs: this.config.tunnelPingIntervalMs, deadAfterMs: this.config.tunnelPingTimeoutMs });
    this.sessions.add(session);
    const log = this.log.child({ peer, remote });
    log.info('edge-to-edge link accepted');
    session.on('stream', (stream, preamble, ended) => this.accept(session, stream, preamble, ended));
    session.on('close', ({ code, error }) => {
      this.sessions.delete(session);
      if (error) log.warn({ code, err: error.message }, 'edge-to-edge link closed on error');
      else log.info({ code }, 'edge-to-edge link closed');
    });
  }

  private accept(session: MuxSession, stream: MuxStream, preamble: OpenPreamble, ended: boolean): void {
    const conn = preamble.socket === undefined ? undefined : this.registry.pick(preamble.socket);
    if (!conn) {
      this.metrics.relayFailed('no_connection');
      // REFUSED: nothing reached an app, so the relaying edge may send it elsewhere.
      return stream.reset(ErrorCode.REFUSED_STREAM, preamble.socket === undefined ? 'the stream names no socket' : `no connector for ${preamble.socket} on this edge`);
    }
    this.metrics.relayed('in');
    SplicedStream.join(stream, session, preamble, ended, conn);
  }
}
