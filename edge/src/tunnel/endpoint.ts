import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { CloseCode, ERROR_CODE_NAMES, HandshakeHeader, HOST_REWRITE_VALUE, MuxSession, PROTOCOL_VERSION } from '@postern/shared';
import type { FastifyBaseLogger } from 'fastify';
import { WebSocketServer } from 'ws';
import type { AuditLog } from '../audit/audit-log.js';
import type { BadTokenGuard } from '../auth/bad-token-guard.js';
import { posternBearerToken } from '../auth/postern-token.js';
import type { TokenCache } from '../auth/token-cache.js';
import { tokenFailure } from '../auth/token-failure.js';
import type { EdgeConfig } from '../config.js';
import { EdgeError } from '../errors.js';
import type { EdgeMetrics } from '../observability/metrics.js';
import { requestIdOf, REQUEST_ID_HEADER } from '../observability/request-id.js';
import type { LimitReporter } from '../limits/reporter.js';
import { formatByteSize } from '../limits/size.js';
import { clientAddress } from '../net/client-address.js';
import { sendErrorOnSocket } from '../pages/error-page.js';
import { randomId } from '../store/ids.js';
import type { Store } from '../store/index.js';
import { storeOutageOf } from '../store-outage.js';
import { helloSocket } from '../api/socket-view.js';
import { TunnelConnection } from './connection.js';
import type { TunnelRegistry } from './registry.js';

/**
 * Accepts connectors: checks protocol version, token and socket ownership before upgrading,
 * then registers the connection. Each refusal is an HTTP status with a JSON body the connector shows.
 */
export class TunnelEndpoint {
  private readonly wss: WebSocketServer;

  constructor(
    private readonly config: EdgeConfig,
    private readonly store: Store,
    private readonly registry: TunnelRegistry,
    private readonly log: FastifyBaseLogger,
    private readonly audit: AuditLog,
    private readonly metrics: EdgeMetrics,
    private readonly limits: LimitReporter,
    private readonly badTokens: BadTokenGuard,
    private readonly tokens: Pick<TokenCache, 'check'>,
    /** The cluster's live edges' public tunnel URLs, announced in HELLO as `peers` (none: the field is left out). */
    private readonly peers?: () => readonly string[],
  ) {
    // A connector's message is a batch of frames (see shared/session.ts); a larger one closes the tunnel with 1009.
    this.wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: config.limits.tunnelMaxMessageBytes });
    // Lets the connector check the version it reached, whatever the edge's age.
    this.wss.on('headers', (headers, req) => headers.push(`Postern-Protocol: ${PROTOCOL_VERSION}`, `${REQUEST_ID_HEADER}: ${requestIdOf(req)}`));
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.authorize(req).then(
      (conn) => this.accept(req, socket, head, conn),
      (err: unknown) => {
        const edgeErr = err instanceof EdgeError ? err : (storeOutageOf(err) ?? new EdgeError('INTERNAL', 'tunnel handshake failed'));
        this.log.warn({ reqId: requestIdOf(req), remote: clientAddress(req), code: edgeErr.code }, `tunnel refused: ${edgeErr.message}`);
        this.metrics.refused(edgeErr.code, 'tunnel');
        req.headers.accept = 'application/json';
        sendErrorOnSocket(req, socket, edgeErr);
      },
    );
  }

  /** The handshake passed: the WebSocket, the mux session, and the connection in the registry. */
  private accept(req: IncomingMessage, socket: Duplex, head: Buffer, handshake: Awaited<ReturnType<TunnelEndpoint['authorize']>>): void {
    const { socket: socketRecord, ...conn } = handshake;
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const info = { ...conn, id: `conn_${randomId(10)}` };
      const session = new MuxSession(ws, {
        role: 'edge',
        pingIntervalMs: this.config.tunnelPingIntervalMs,
        deadAfterMs: this.config.tunnelPingTimeoutMs,
      });
      const tunnel = new TunnelConnection(info, session);
      this.registry.add(tunnel);
      // A delete heard between the handshake's read and now found no connection to close: look again (its close handlers are on by then).
      this.store.sockets.findById(info.socketId).then(
        (current) => current ?? session.destroy(CloseCode.SOCKET_DELETED, 'socket was deleted'),
        () => undefined, // the store is away: the handshake just read the socket; the next change or request tells
      );
      this.metrics.tunnelConnected(info.socketId);
      const log = this.log.child({ reqId: requestIdOf(req), socket: info.socketId, connection: info.id, connector: info.connectorId });
      log.info({ remote: info.remoteAddress, tunnel: info.tunnelId }, 'tunnel connected');
      if (info.tunnelId) this.store.tunnels.markConnected(info.tunnelId).catch((err: unknown) => log.warn({ err }, 'could not record the tunnel connection time'));
      const auditBase = { accountId: info.accountId, socketId: info.socketId, actor: info.actor, remote: info.remoteAddress };
      const detail = { tunnel_id: info.tunnelId, connection_id: info.id, connector_id: info.connectorId };
      this.audit.record({ ...auditBase, type: 'tunnel.connect', detail });
      const peers = this.peers?.();
      session.sendHello({ v: 1, connectionId: info.id, socket: helloSocket(socketRecord, this.config), ...(peers ? { peers } : {}) });
      session.on('goaway', (code, reason) => {
        log.info({ code: ERROR_CODE_NAMES[code] ?? code, reason }, 'connector is draining');
        tunnel.drain();
      });
      session.on('close', ({ code, reason, error }) => {
        this.registry.remove(tunnel);
        this.metrics.tunnelDisconnected(info.socketId);
        this.audit.record({ ...auditBase, type: 'tunnel.disconnect', detail: { ...detail, code, duration_ms: Date.now() - tunnel.connectedAt } });
        tunnel.drain();
        if ((error as NodeJS.ErrnoException | undefined)?.code === 'WS_ERR_UNSUPPORTED_MESSAGE_LENGTH') {
          const max = this.config.limits.tunnelMaxMessageBytes;
          this.limits.hit('tunnel_message_size', info.id, `tunnel closed: the connector sent a message over ${formatByteSize(max)}`, {
            socket: info.socketId,
            connection: info.id,
            connector: info.connectorId,
            max,
          });
        } else if (error) log.warn({ code, err: error.message }, 'tunnel closed on error');
        else log.info({ code, reason }, 'tunnel disconnected');
      });
    });
  }

  /** Validates the handshake; throws EdgeError with the status the connector will see. */
  private async authorize(req: IncomingMessage) {
    const version = header(req, HandshakeHeader.PROTOCOL);
    if (version !== String(PROTOCOL_VERSION)) throw new EdgeError('PROTOCOL_VERSION', versionMismatch(version));
    const token = posternBearerToken(header(req, 'authorization'));
    const check = token ? await this.tokens.check(token) : undefined;
    if (!check) throw tokenFailure(undefined);
    if (!check.ok) throw this.badTokens.failed(req, tokenFailure(check));
    const record = check.token;
    const socketId = header(req, HandshakeHeader.SOCKET);
    if (!socketId) throw new EdgeError('BAD_REQUEST', `the ${HandshakeHeader.SOCKET} header is required`);
    const socket = await this.store.sockets.findById(socketId);
    // Another account's socket answers exactly like one that does not exist: ids are not an oracle.
    if (!socket || socket.accountId !== record.accountId) throw new EdgeError('SOCKET_NOT_FOUND', `socket ${socketId} does not exist`);
    const tunnelId = header(req, HandshakeHeader.TUNNEL) ?? null;
    const tunnel = tunnelId ? await this.store.tunnels.findById(tunnelId) : undefined;
    if (tunnelId && (!tunnel || tunnel.accountId !== record.accountId)) throw new EdgeError('TUNNEL_NOT_FOUND', `tunnel ${tunnelId} does not exist`);
    if (tunnel && tunnel.socketId !== socketId) {
      throw new EdgeError('BAD_REQUEST', `tunnel ${tunnel.id} belongs to socket ${tunnel.socketId}, not ${socketId}`);
    }
    const hostRewrite = header(req, HandshakeHeader.HOST_REWRITE);
    if (hostRewrite !== undefined && !HOST_REWRITE_VALUE.test(hostRewrite)) {
      throw new EdgeError('BAD_REQUEST', `invalid ${HandshakeHeader.HOST_REWRITE} header`);
    }
    const connectorId = header(req, HandshakeHeader.CONNECTOR) ?? 'unnamed';
    return {
      socket,
      socketId,
      tunnelId,
      accountId: record.accountId,
      tokenId: record.id,
      actor: (await this.store.accounts.findById(record.accountId))?.email ?? record.accountId,
      connectorId: connectorId.slice(0, 64),
      remoteAddress: clientAddress(req),
      hostRewrite,
      requestEvents: header(req, HandshakeHeader.EVENTS) === 'request',
    };
  }
}

/** One line that says which side to upgrade. */
function versionMismatch(version: string | undefined): string {
  if (!version) return `the connector did not say which tunnel protocol it speaks; this edge speaks ${PROTOCOL_VERSION}: upgrade the connector`;
  const theirs = Number(version);
  const older = Number.isInteger(theirs) && theirs < PROTOCOL_VERSION ? 'connector' : Number.isInteger(theirs) ? 'edge' : 'older side';
  return `the connector speaks tunnel protocol ${version}, this edge speaks ${PROTOCOL_VERSION}: upgrade the ${older}`;
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}
