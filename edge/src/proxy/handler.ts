import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyBaseLogger } from 'fastify';
import type { AccessDetail, AuditLog } from '../audit/audit-log.js';
import type { AuthContext } from '../auth/context.js';
import type { EdgeConfig } from '../config.js';
import { EdgeError } from '../errors.js';
import { closeAfterAnswer } from '../limits/linger.js';
import type { ProxyLimits } from '../limits/proxy-limits.js';
import { clientAddress, clientScheme } from '../net/client-address.js';
import { CLIENT_CLOSED_REQUEST, type AccessLog, type RequestTrace } from '../observability/access-log.js';
import { requestIdOf } from '../observability/request-id.js';
import { forbiddenPage } from '../pages/auth-pages.js';
import { sendError, sendErrorOnSocket, wantsJson } from '../pages/error-page.js';
import { EDGE_PAGE_HEADERS } from '../pages/frame-protection.js';
import type { SocketRecord } from '../store/sockets.js';
import type { TunnelRegistry } from '../tunnel/registry.js';
import type { TunnelConnection } from '../tunnel/connection.js';
import { hasBody, type ExchangeInput } from './exchange.js';
import type { GateDecision, SocketGate } from './gate.js';
import { upstreamRequestHeaders } from './headers.js';
import { continueIfExpected, HttpExchange } from './http.js';
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
    private readonly access: AccessLog,
    private readonly limits: ProxyLimits,
  ) {}

  handleRequest(req: IncomingMessage, res: ServerResponse, socket: SocketRecord, host: string): void {
    const trace = this.traceHttp(req, res, host, socket.id);
    if (socket.protocol === 'tcp') return this.reject(req, res, tcpSocketError(host), trace);
    const resets = this.limits.checkResets(req);
    if (resets) return this.reject(req, res, resets, trace);
    if (req.url?.startsWith(RESERVED_PREFIX)) {
      continueIfExpected(req, res);
      this.reserved.handle(req, res, socket, host).catch((err: unknown) => this.internal(req, res, err, trace));
      return;
    }
    const decision = this.gate.check(req, socket, host);
    if (decision.kind !== 'allow') return this.refuse(req, res, decision, socket, host, trace);
    trace.user = decision.identity?.email ?? null;
    const tooLarge = this.limits.checkDeclaredBody(req, socket);
    if (tooLarge) return this.reject(req, res, tooLarge, trace);
    this.withIdentity(socket, host, decision, (identity) => {
      const prepared = this.prepare(req, socket, host, decision, identity, trace);
      if (prepared instanceof EdgeError) return this.reject(req, res, prepared, trace);
      const [input, conn] = prepared;
      const release = this.limits.acquireStream(req, socket, decision.identity?.userId ?? null);
      if (release instanceof EdgeError) return this.reject(req, res, release, trace);
      res.once('close', release);
      continueIfExpected(req, res);
      const body = hasBody(req) ? this.limits.guardBody(req, socket) : null;
      new HttpExchange(input, conn, res, body, (err) => this.reject(req, res, err, trace)).start();
    }, (err) => this.internal(req, res, err, trace));
  }

  /** A request refused before it reached a socket (no such host, or malformed), logged and counted like any request. */
  rejectUnrouted(req: IncomingMessage, res: ServerResponse, host: string, err: EdgeError): void {
    this.reject(req, res, err, this.traceHttp(req, res, host, null));
  }

  handleUpgrade(req: IncomingMessage, client: Duplex, head: Buffer, socket: SocketRecord, host: string): void {
    const trace = this.access.begin(req, host, socket.id, 'websocket');
    client.once('close', () => trace.finish(trace.status ?? CLIENT_CLOSED_REQUEST));
    const refuse = (err: EdgeError) => {
      trace.refused(err);
      sendErrorOnSocket(req, client, err);
    };
    if (socket.protocol === 'tcp') return refuse(tcpSocketError(host));
    const resets = this.limits.checkResets(req);
    if (resets) return refuse(resets);
    if (req.url?.startsWith(RESERVED_PREFIX)) return refuse(new EdgeError('NOT_FOUND', 'No WebSocket endpoint here.'));
    const decision = this.gate.check(req, socket, host);
    if (decision.kind === 'refused') return refuse(decision.error);
    if (decision.kind === 'login' || decision.kind === 'unauthorized') {
      return refuse(new EdgeError('UNAUTHORIZED', 'Sign in before opening a WebSocket to this app.'));
    }
    if (decision.kind === 'forbidden') {
      this.recordDenial(req, socket, decision, 'websocket', trace);
      return refuse(new EdgeError('POLICY_DENIED', decision.reason));
    }
    trace.user = decision.identity?.email ?? null;
    // Sibling sockets are same-site: a cookie-authenticated WebSocket must come from this very origin.
    if (decision.sessionHash && req.headers.origin !== `${this.config.publicScheme}://${host}`) {
      return refuse(new EdgeError('FORBIDDEN', 'Cross-origin WebSocket refused: the Origin must be this app’s own.'));
    }
    this.withIdentity(socket, host, decision, (identity) => {
      const prepared = this.prepare(req, socket, host, decision, identity, trace);
      if (prepared instanceof EdgeError) return refuse(prepared);
      const [input, conn] = prepared;
      const release = this.limits.acquireStream(req, socket, decision.identity?.userId ?? null);
      if (release instanceof EdgeError) return refuse(release);
      client.once('close', release);
      // Sign-out, expiry, revocation and rule changes close this connection (see auth/live-connections.ts).
      if (decision.credential) this.auth.live.add(decision.credential, socket.id, client);
      this.gate.trackStream(decision.grant, 'websocket', client, req);
      this.recordStream(req, socket, decision, client);
      new UpgradeExchange(input, conn, client, head).start();
    }, () => refuse(new EdgeError('INTERNAL', 'internal error')));
  }

  /** Traces an HTTP request until its response closes (answered, or the client left). */
  private traceHttp(req: IncomingMessage, res: ServerResponse, host: string, socketId: string | null): RequestTrace {
    const trace = this.access.begin(req, host, socketId, 'http');
    res.once('close', () => trace.finish(res.headersSent ? res.statusCode : CLIENT_CLOSED_REQUEST));
    return trace;
  }

  /** The edge's answer for a request it refuses or cannot deliver (the access line names the code). */
  private reject(req: IncomingMessage, res: ServerResponse, err: EdgeError, trace: RequestTrace): void {
    trace.refused(err);
    if (err.headers.connection === 'close') closeAfterAnswer(req, res);
    sendError(req, res, err);
  }

  /** Public sockets skip the assertion; signed-in ones stay synchronous while it is cached. */
  private withIdentity(socket: SocketRecord, host: string, decision: Allowed, then: (identity: string[]) => void, fail: (err: unknown) => void): void {
    if (!decision.identity) return then([]);
    const headers = identityHeaders(this.auth, socket, `${this.config.publicScheme}://${host}`, decision.identity);
    if (Array.isArray(headers)) return then(headers);
    headers.then(then, fail);
  }

  private recordDenial(req: IncomingMessage, socket: SocketRecord, decision: { readonly who: string; readonly reason: string; readonly access?: AccessDetail }, via: string, trace: RequestTrace): void {
    trace.user = decision.who;
    trace.reason = decision.reason;
    this.audit.denied({ accountId: socket.accountId, socketId: socket.id, actor: decision.who, remote: clientAddress(req) || null, reason: decision.reason, via, access: decision.access });
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

  private refuse(req: IncomingMessage, res: ServerResponse, decision: Exclude<GateDecision, Allowed>, socket: SocketRecord, host: string, trace: RequestTrace): void {
    if (decision.kind === 'login') {
      res.writeHead(302, { location: decision.location, 'cache-control': 'no-store' });
      res.end();
      return;
    }
    if (decision.kind === 'unauthorized') return this.reject(req, res, new EdgeError('UNAUTHORIZED', decision.message), trace);
    if (decision.kind === 'refused') {
      if (decision.denial) this.recordDenial(req, socket, decision.denial, 'http', trace);
      return this.reject(req, res, decision.error, trace);
    }
    this.recordDenial(req, socket, decision, 'http', trace);
    const denied = new EdgeError('POLICY_DENIED', decision.reason);
    if (wantsJson(req)) return this.reject(req, res, denied, trace);
    trace.refused(denied);
    const origin = `${this.config.publicScheme}://${host}`;
    const body = forbiddenPage({
      who: decision.who,
      socket: host,
      reason: decision.reason,
      signOutHref: '/.postern/signout',
      switchHref: `${this.auth.edgeUrl}/auth/login?switch=1&rd=${encodeURIComponent(`${origin}/`)}`,
      footer: host,
    });
    res.writeHead(403, { ...EDGE_PAGE_HEADERS, 'content-type': 'text/html; charset=utf-8', 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', 'postern-error': 'POLICY_DENIED' });
    res.end(body);
  }

  private internal(req: IncomingMessage, res: ServerResponse, err: unknown, trace: RequestTrace): void {
    this.log.error({ err, reqId: requestIdOf(req), host: trace.host }, 'request failed inside the edge');
    this.reject(req, res, new EdgeError('INTERNAL', 'internal error'), trace);
  }

  private prepare(
    req: IncomingMessage,
    socket: SocketRecord,
    host: string,
    decision: Allowed,
    identity: string[],
    trace: RequestTrace,
  ): [ExchangeInput, TunnelConnection] | EdgeError {
    // Only origin-form targets get here (proxy/strict-http.ts): routing and forwarding read the same host.
    const pickConnection = (exclude?: TunnelConnection) => this.registry.pick(socket.id, exclude);
    const conn = pickConnection();
    if (!conn && this.registry.isBusy(socket.id)) return this.limits.tunnelBusy(socket, host);
    if (!conn) {
      return new EdgeError(
        'TUNNEL_OFFLINE',
        `No connector is online for ${host}. The app's owner needs to run "postern connect" (or it is reconnecting).`,
      );
    }
    const headers = upstreamRequestHeaders(req, {
      reservedNames: reservedHeaderNames(socket, this.config.foreignIdentityHeaders),
      identity,
      stripAuthorization: decision.consumedAuthorization,
      clientIp: clientAddress(req),
      proto: clientScheme(req),
      publicHost: host,
      upstreamHost: conn.info.hostRewrite ?? host,
      requestId: requestIdOf(req),
    });
    const onAbandoned = () => this.limits.recordAbort(req);
    return [{ req, headers, pickConnection, targetName: host, email: decision.identity?.email ?? null, trace, onAbandoned }, conn];
  }
}

/** A TCP socket carries raw bytes through `postern tcp`, never HTTP. */
function tcpSocketError(host: string): EdgeError {
  return new EdgeError('WRONG_PROTOCOL', `this is a TCP socket; reach it with "postern tcp --socket ${host.replace(/:\d+$/, '')}"`);
}
