import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  ERROR_CODE_NAMES,
  SessionClosedError,
  StreamResetError,
  TCP_MAX_MESSAGE,
  TcpCloseCode,
  TcpStreamError,
  WebSocketByteStream,
  type StreamDuplex,
} from '@postern/shared';
import type { FastifyBaseLogger } from 'fastify';
import { WebSocketServer, type WebSocket } from 'ws';
import type { AuditLog } from '../audit/audit-log.js';
import type { LiveConnections } from '../auth/live-connections.js';
import type { EdgeConfig } from '../config.js';
import { EdgeError } from '../errors.js';
import type { ProxyLimits } from '../limits/proxy-limits.js';
import { isLimitRefusal } from '../limits/reporter.js';
import type { EdgeMetrics } from '../observability/metrics.js';
import { requestIdOf, REQUEST_ID_HEADER } from '../observability/request-id.js';
import { clientAddress } from '../net/client-address.js';
import { sendErrorOnSocket } from '../pages/error-page.js';
import { upstreamError } from '../proxy/upstream-errors.js';
import { storeOutageOf } from '../store-outage.js';
import type { EdgeRelay } from '../relay/edge-relay.js';
import type { StreamCarrier } from '../tunnel/carrier.js';
import type { TcpAccess, TcpGrant } from './access.js';

/** Idle streams are pinged this often, so proxies and NATs on the way do not drop a quiet SSH session. */
const KEEPALIVE_MS = 30_000;

/**
 * `GET /v1/tcp` (WebSocket): one raw TCP stream to a tcp socket's app, for `postern tcp`. Every
 * refusal, including "the app is not reachable", is an HTTP status with a JSON body, sent before
 * upgrading: the stream to the app is opened first, so a client that got 101 has a live connection.
 */
export class TcpEndpoint {
  private readonly wss = new WebSocketServer({ noServer: true, perMessageDeflate: false, maxPayload: TCP_MAX_MESSAGE });

  constructor(
    private readonly config: EdgeConfig,
    private readonly access: TcpAccess,
    private readonly live: LiveConnections,
    private readonly audit: AuditLog,
    private readonly log: FastifyBaseLogger,
    private readonly metrics: EdgeMetrics,
    private readonly limits: ProxyLimits,
    /** Other edges holding the connectors this one lacks (PostgreSQL store). */
    private readonly peers: EdgeRelay | undefined,
  ) {
    this.wss.on('headers', (headers, req) => headers.push(`${REQUEST_ID_HEADER}: ${requestIdOf(req)}`));
  }

  /**
   * `GET /v1/tcp` without Upgrade: the access checks alone (throws the refusal), and whether a
   * connector is online now, which may change before the first stream.
   */
  async preflight(req: IncomingMessage): Promise<{ socket: { name: string; hostname: string }; online: boolean }> {
    const grant = await this.access.authorize(req);
    const online = this.access.connection(grant) !== undefined || ((await this.peers?.located(grant.socket.id))?.length ?? 0) > 0;
    return { socket: { name: grant.socket.name, hostname: grant.hostname }, online };
  }

  handleUpgrade(req: IncomingMessage, client: Duplex, head: Buffer): void {
    const refuse = (err: EdgeError) => {
      if (!isLimitRefusal(err)) this.log.info({ reqId: requestIdOf(req), remote: clientAddress(req), code: err.code }, `tcp stream refused: ${err.message}`);
      this.metrics.refused(err.code, 'tcp');
      req.headers.accept = 'application/json';
      sendErrorOnSocket(req, client, err);
    };
    this.access
      .authorize(req)
      .then(
        (grant) => this.open(req, client, head, grant, refuse),
        (err: unknown) => {
          const known = err instanceof EdgeError ? err : storeOutageOf(err);
          if (!known) this.log.error({ err }, 'tcp access check failed');
          refuse(known ?? new EdgeError('INTERNAL', 'internal error'));
        },
      )
      .catch((err: unknown) => {
        this.log.error({ err }, 'tcp stream failed');
        client.destroy();
      });
  }

  /** The stream was let in: to the app through a connector, then upgraded. */
  private open(req: IncomingMessage, client: Duplex, head: Buffer, grant: TcpGrant, refuse: (err: EdgeError) => void): void {
    if (client.destroyed) return; // the client gave up during the checks
    const connection = this.access.connection(grant);
    if (connection) return this.openAndUpgrade(req, client, head, grant, connection, refuse);
    if (this.access.busy(grant)) return refuse(this.limits.tunnelBusy(grant.socket, grant.hostname));
    if (!this.peers) return refuse(offline(grant));
    // No connector here: the edge that holds one carries the stream (access was decided here).
    this.peers.carrier(grant.socket.id).then(
      (carrier) => (carrier ? this.openAndUpgrade(req, client, head, grant, carrier, refuse) : refuse(offline(grant))),
      (err: unknown) => {
        this.log.error({ err }, 'tcp relay failed');
        refuse(new EdgeError('INTERNAL', 'internal error'));
      },
    );
  }

  /** Opens the stream to the app first, then upgrades: a client that got 101 has a live connection. */
  private openAndUpgrade(req: IncomingMessage, client: Duplex, head: Buffer, grant: TcpGrant, connection: StreamCarrier, refuse: (err: EdgeError) => void): void {
    this.openToApp(grant, connection, client, (opened) => {
      if (opened instanceof EdgeError) return refuse(opened);
      if (!client.readable || !client.writable) return opened.destroy(); // the client gave up while we waited
      this.wss.handleUpgrade(req, client, head, (ws) => this.relay(ws, opened, grant, connection, clientAddress(req) || null));
    });
  }

  /** Opens a stream to the app through the grant's connector, bounded by the upstream timeout. */
  private openToApp(grant: TcpGrant, connection: StreamCarrier, client: Duplex, done: (opened: StreamDuplex | EdgeError) => void): void {
    let settled = false;
    // The stream counts against the connection from now until it closes.
    const release = connection.holdStream();
    const settle = (opened: StreamDuplex | EdgeError) => {
      settled = true;
      clearTimeout(timer);
      client.off('close', onClientGone);
      if (opened instanceof EdgeError) release();
      else opened.once('close', release);
      done(opened);
    };
    const onClientGone = () => settle(new EdgeError('BAD_REQUEST', 'the client closed the connection'));
    const timer = setTimeout(
      () => settle(new EdgeError('APP_TIMEOUT', `the connector did not reach the app behind ${grant.hostname} within ${this.config.upstreamTimeoutMs / 1000} s`)),
      this.config.upstreamTimeoutMs,
    );
    client.once('close', onClientGone);
    connection.openStream((err, stream) => {
      if (settled) return stream?.destroy(); // timed out, or nobody is waiting any more
      settle(stream ?? upstreamError(err, grant.hostname));
    });
  }

  /** Pipes the client's WebSocket and the app's stream both ways, until both ends finished or one failed. */
  private relay(ws: WebSocket, stream: StreamDuplex, grant: TcpGrant, connection: StreamCarrier, remote: string | null): void {
    const { socket, hostname } = grant;
    const client = new WebSocketByteStream(ws, {
      abortClose: { code: TcpCloseCode.ACCESS_ENDED, reason: `access to ${hostname} ended: token revoked or expired, or the socket's rules changed` },
    });
    // Revocation, expiry, rule changes and deletion destroy `client` (see auth/live-connections.ts).
    this.live.add(grant.credential, socket.id, client);
    this.access.track(grant, client);
    const log = this.log.child({ socket: socket.id, user: grant.actor, connection: connection.info.id });
    const audit = { accountId: socket.accountId, socketId: socket.id, actor: grant.actor, remote };
    const openedAt = Date.now();
    this.audit.record({ ...audit, type: 'stream.open', detail: { kind: 'tcp' } });
    log.info({ remote }, 'tcp stream opened');

    stream.pipe(client);
    client.pipe(stream);
    stream.once('close', () => {
      if (stream.errored || !stream.readableEnded) client.destroy(upstreamFailure(stream.errored, hostname));
    });
    client.once('close', () => {
      if (!client.completed) stream.destroy();
      const detail = { kind: 'tcp', duration_ms: Date.now() - openedAt, bytes_in: client.bytesRead, bytes_out: client.bytesWritten };
      const ended = client.completed ? {} : { ...client.closedWith };
      this.audit.record({ ...audit, type: 'stream.close', detail: { ...detail, ...ended } });
      log.info({ ...detail, ...ended }, 'tcp stream closed');
    });
    keepAlive(ws);
  }
}

function offline(grant: TcpGrant): EdgeError {
  return new EdgeError('TUNNEL_OFFLINE', `no connector is online for ${grant.hostname}: its owner needs to run "postern connect" for it`);
}

/** What the client is told when the app's side of the stream failed. */
function upstreamFailure(err: Error | null, hostname: string): TcpStreamError {
  const why =
    err instanceof StreamResetError
      ? err.reason || (ERROR_CODE_NAMES[err.code] ?? String(err.code))
      : err instanceof SessionClosedError
        ? 'the tunnel to the connector was lost'
        : (err?.message ?? 'the stream closed early');
  return new TcpStreamError(TcpCloseCode.UPSTREAM_FAILED, `the connection to ${hostname} failed: ${why}`);
}

function keepAlive(ws: WebSocket): void {
  const timer = setInterval(() => ws.ping(), KEEPALIVE_MS);
  ws.once('close', () => clearInterval(timer));
}
