import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import type { EdgeConfig } from '../config.js';
import { EdgeError } from '../errors.js';
import { sendError, sendErrorOnSocket } from '../pages/error-page.js';
import type { SocketRecord } from '../store/sockets.js';
import type { TunnelRegistry } from '../tunnel/registry.js';
import type { TunnelConnection } from '../tunnel/connection.js';
import type { ExchangeInput } from './exchange.js';
import { upstreamRequestHeaders } from './headers.js';
import { HttpExchange } from './http.js';
import { UpgradeExchange } from './upgrade.js';

/** Entry point of browser traffic for socket hosts: validate, pick a tunnel, forward. */
export class ProxyHandler {
  constructor(
    private readonly config: EdgeConfig,
    private readonly registry: TunnelRegistry,
    private readonly log: FastifyBaseLogger,
  ) {}

  handleRequest(req: IncomingMessage, res: ServerResponse, socket: SocketRecord, host: string): void {
    const prepared = this.prepare(req, socket, host);
    if (prepared instanceof EdgeError) return this.reject(req, res, prepared);
    const [input, conn] = prepared;
    new HttpExchange(input, conn, res, (err) => this.reject(req, res, err)).start();
  }

  handleUpgrade(req: IncomingMessage, client: Duplex, head: Buffer, socket: SocketRecord, host: string): void {
    const prepared = this.prepare(req, socket, host);
    if (prepared instanceof EdgeError) {
      this.log.info({ host, code: prepared.code }, prepared.message);
      return sendErrorOnSocket(req, client, prepared);
    }
    const [input, conn] = prepared;
    new UpgradeExchange(input, conn, client, head).start();
  }

  /** The edge's answer for a request it refuses or cannot deliver. */
  reject(req: IncomingMessage, res: ServerResponse, err: EdgeError): void {
    this.log.info({ host: req.headers.host, method: req.method, code: err.code }, err.message);
    sendError(req, res, err);
  }

  private prepare(req: IncomingMessage, socket: SocketRecord, host: string): [ExchangeInput, TunnelConnection] | EdgeError {
    const url = req.url ?? '';
    // Only origin-form targets: an absolute URL could name another host than the one we routed by.
    if (!url.startsWith('/') && !(url === '*' && req.method === 'OPTIONS')) {
      return new EdgeError('BAD_REQUEST', 'The request target must be a path (origin-form).');
    }
    const pickConnection = (exclude?: TunnelConnection) => this.registry.pick(socket.id, exclude);
    const conn = pickConnection();
    if (!conn) {
      return new EdgeError(
        'TUNNEL_OFFLINE',
        `No connector is online for ${host}. The app's owner needs to run "postern connect" (or it is reconnecting).`,
      );
    }
    const headers = upstreamRequestHeaders(req, {
      clientIp: req.socket.remoteAddress ?? '',
      proto: this.config.publicScheme,
      publicHost: host,
      upstreamHost: conn.info.hostRewrite ?? host,
    });
    return [{ req, headers, pickConnection, targetName: host }, conn];
  }
}
