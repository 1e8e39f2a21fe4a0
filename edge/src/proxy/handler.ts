import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import type { AuditLog } from '../audit/audit-log.js';
import type { AuthContext } from '../auth/context.js';
import type { EdgeConfig } from '../config.js';
import { EdgeError } from '../errors.js';
import { clientAddress, clientScheme } from '../net/client-address.js';
import { forbiddenPage } from '../pages/auth-pages.js';
import { sendError, sendErrorOnSocket, wantsJson } from '../pages/error-page.js';
import type { SocketRecord } from '../store/sockets.js';
import type { TunnelRegistry } from '../tunnel/registry.js';
import type { TunnelConnection } from '../tunnel/connection.js';
import type { ExchangeInput } from './exchange.js';
import type { GateDecision, SocketGate } from './gate.js';
import { upstreamRequestHeaders } from './headers.js';
import { HttpExchange } from './http.js';
import { identityHeaders, reservedHeaderNames } from './identity-headers.js';
import { RESERVED_PREFIX, type ReservedPaths } from './reserved.js';
import { UpgradeExchange } from './upgrade.js';

type Allowed = Extract<GateDecision, { kind: 'allow' }>;

/** Entry point of browser traffic for socket hosts: reserved paths, sign-in and policy, then forward. */
export class ProxyHandler {
  constructor(
    private readonly config: EdgeConfig,
    private readonly registry: TunnelRegistry,
    private readonly log: FastifyBaseLogger,
    private readonly gate: SocketGate,
    private readonly auth: AuthContext,
    private readonly reserved: ReservedPaths,
    private readonly audit: AuditLog,
  ) {}

  handleRequest(req: IncomingMessage, res: ServerResponse, socket: SocketRecord, host: string): void {
    if (socket.protocol === 'tcp') return this.reject(req, res, tcpSocketError(host));
    if (req.url?.startsWith(RESERVED_PREFIX)) {
      this.reserved.handle(req, res, socket, host).catch((err: unknown) => this.internal(req, res, err));
      return;
    }
    const decision = this.gate.check(req, socket, host);
    if (decision.kind !== 'allow') return this.refuse(req, res, decision, socket, host);
    this.withIdentity(socket, host, decision, (identity) => {
      const prepared = this.prepare(req, socket, host, decision, identity);
      if (prepared instanceof EdgeError) return this.reject(req, res, prepared);
      const [input, conn] = prepared;
      new HttpExchange(input, conn, res, (err) => this.reject(req, res, err)).start();
    }, (err) => this.internal(req, res, err));
  }

  handleUpgrade(req: IncomingMessage, client: Duplex, head: Buffer, socket: SocketRecord, host: string): void {
    const refuse = (err: EdgeError) => {
      this.log.info({ host, code: err.code }, err.message);
      sendErrorOnSocket(req, client, err);
    };
    if (socket.protocol === 'tcp') return refuse(tcpSocketError(host));
    if (req.url?.startsWith(RESERVED_PREFIX)) return refuse(new EdgeError('NOT_FOUND', 'No WebSocket endpoint here.'));
    const decision = this.gate.check(req, socket, host);
    if (decision.kind === 'login' || decision.kind === 'unauthorized') {
      return refuse(new EdgeError('UNAUTHORIZED', 'Sign in before opening a WebSocket to this app.'));
    }
    if (decision.kind === 'forbidden') {
      this.recordDenial(req, socket, decision, 'websocket');
      return refuse(new EdgeError('POLICY_DENIED', decision.reason));
    }
    // Sibling sockets are same-site: a cookie-authenticated WebSocket must come from this very origin.
    if (decision.sessionHash && req.headers.origin !== `${this.config.publicScheme}://${host}`) {
      return refuse(new EdgeError('FORBIDDEN', 'Cross-origin WebSocket refused: the Origin must be this app’s own.'));
    }
    this.withIdentity(socket, host, decision, (identity) => {
      const prepared = this.prepare(req, socket, host, decision, identity);
      if (prepared instanceof EdgeError) return refuse(prepared);
      const [input, conn] = prepared;
      // Sign-out, expiry, revocation and rule changes close this connection (see auth/live-connections.ts).
      if (decision.credential) this.auth.live.add(decision.credential, socket.id, client);
      this.recordStream(req, socket, decision, client);
      new UpgradeExchange(input, conn, client, head).start();
    }, () => refuse(new EdgeError('INTERNAL', 'internal error')));
  }

  /** The edge's answer for a request it refuses or cannot deliver. */
  reject(req: IncomingMessage, res: ServerResponse, err: EdgeError): void {
    this.log.info({ host: req.headers.host, method: req.method, code: err.code }, err.message);
    sendError(req, res, err);
  }

  /** Public sockets skip the assertion; signed-in ones stay synchronous while it is cached. */
  private withIdentity(socket: SocketRecord, host: string, decision: Allowed, then: (identity: string[]) => void, fail: (err: unknown) => void): void {
    if (!decision.identity) return then([]);
    const headers = identityHeaders(this.auth, socket, `${this.config.publicScheme}://${host}`, decision.identity);
    if (Array.isArray(headers)) return then(headers);
    headers.then(then, fail);
  }

  private recordDenial(req: IncomingMessage, socket: SocketRecord, decision: Extract<GateDecision, { kind: 'forbidden' }>, via: string): void {
    this.log.info({ socket: socket.id, user: decision.who, reason: decision.reason }, 'access denied');
    this.audit.denied({ accountId: socket.accountId, socketId: socket.id, actor: decision.who, remote: clientAddress(req) || null, reason: decision.reason, via });
  }

  /** WebSocket sessions of signed-in sockets are audited with who and how long (public ones are not: no one to name). */
  private recordStream(req: IncomingMessage, socket: SocketRecord, decision: Allowed, client: Duplex): void {
    if (!decision.identity) return;
    const base = { accountId: socket.accountId, socketId: socket.id, actor: decision.identity.email ?? decision.identity.userId, remote: clientAddress(req) || null };
    const path = (req.url ?? '/').split('?')[0];
    const openedAt = Date.now();
    this.audit.record({ ...base, type: 'stream.open', detail: { kind: 'websocket', path } });
    client.once('close', () => this.audit.record({ ...base, type: 'stream.close', detail: { kind: 'websocket', path, duration_ms: Date.now() - openedAt } }));
  }

  private refuse(req: IncomingMessage, res: ServerResponse, decision: Exclude<GateDecision, Allowed>, socket: SocketRecord, host: string): void {
    if (decision.kind === 'login') {
      res.writeHead(302, { location: decision.location, 'cache-control': 'no-store' });
      res.end();
      return;
    }
    if (decision.kind === 'unauthorized') return this.reject(req, res, new EdgeError('UNAUTHORIZED', decision.message));
    this.recordDenial(req, socket, decision, 'http');
    if (wantsJson(req)) return sendError(req, res, new EdgeError('POLICY_DENIED', decision.reason));
    const origin = `${this.config.publicScheme}://${host}`;
    const body = forbiddenPage({
      who: decision.who,
      socket: host,
      reason: decision.reason,
      signOutHref: '/.postern/signout',
      switchHref: `${this.auth.edgeUrl}/auth/login?switch=1&rd=${encodeURIComponent(`${origin}/`)}`,
      footer: host,
    });
    res.writeHead(403, { 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', 'postern-error': 'POLICY_DENIED' });
    res.end(body);
  }

  private internal(req: IncomingMessage, res: ServerResponse, err: unknown): void {
    this.log.error({ err, host: req.headers.host }, 'request failed inside the edge');
    sendError(req, res, new EdgeError('INTERNAL', 'internal error'));
  }

  private prepare(req: IncomingMessage, socket: SocketRecord, host: string, decision: Allowed, identity: string[]): [ExchangeInput, TunnelConnection] | EdgeError {
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
      reservedNames: reservedHeaderNames(socket),
      identity,
      stripAuthorization: decision.consumedAuthorization,
      clientIp: clientAddress(req),
      proto: clientScheme(req),
      publicHost: host,
      upstreamHost: conn.info.hostRewrite ?? host,
    });
    return [{ req, headers, pickConnection, targetName: host, email: decision.identity?.email ?? null }, conn];
  }
}

/** A TCP socket carries raw bytes through `postern tcp`, never HTTP. */
function tcpSocketError(host: string): EdgeError {
  return new EdgeError('WRONG_PROTOCOL', `this is a TCP socket; reach it with "postern tcp --socket ${host.replace(/:\d+$/, '')}"`);
}
