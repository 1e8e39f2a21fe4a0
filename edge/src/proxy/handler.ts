import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { RequestHead } from '@postern/shared';
import type { FastifyBaseLogger } from 'fastify';
import type { AccessDetail, AuditLog } from '../audit/audit-log.js';
import type { AuthContext } from '../auth/context.js';
import type { EdgeConfig } from '../config.js';
import { EdgeError } from '../errors.js';
import type { ProxyLimits } from '../limits/proxy-limits.js';
import { clientAddress, clientScheme } from '../net/client-address.js';
import { HSTS_HEADER } from '../net/hsts.js';
import { CLIENT_CLOSED_REQUEST, type AccessLog, type RequestTrace } from '../observability/access-log.js';
import { requestIdOf, REQUEST_ID_HEADER } from '../observability/request-id.js';
import { forbiddenPage } from '../pages/auth-pages.js';
import type { SocketRecord } from '../store/sockets.js';
import { storeOutageOf } from '../store-outage.js';
import type { EdgeRelay } from '../relay/edge-relay.js';
import type { StreamCarrier } from '../tunnel/carrier.js';
import type { TunnelRegistry } from '../tunnel/registry.js';
import { hasBody, ResponseDownstream, SocketDownstream, type Downstream } from './answer.js';
import { Deadlines } from './deadlines.js';
import type { ExchangeInput, ExchangeServices } from './exchange.js';
import { containRequest } from './exchange-faults.js';
import type { GateDecision, SocketGate } from './gate.js';
import { upstreamRequestHeaders } from './headers.js';
import { continueIfExpected, HttpExchange } from './http.js';
import { identityHeaders, reservedHeaderNames } from './identity-headers.js';
import { RESERVED_PREFIX, type ReservedPaths } from './reserved.js';
import { UpgradeExchange } from './upgrade.js';

type Allowed = Extract<GateDecision, { kind: 'allow' }>;
type Denied = Exclude<GateDecision, Allowed>;

const NO_IDENTITY: readonly string[] = Object.freeze([]);

/** What the proxy is wired to: one object, built once by server.ts. */
export interface ProxyDeps {
  readonly config: EdgeConfig;
  readonly registry: TunnelRegistry;
  readonly log: FastifyBaseLogger;
  readonly gate: SocketGate;
  readonly auth: AuthContext;
  readonly reserved: ReservedPaths;
  readonly audit: AuditLog;
  readonly access: AccessLog;
  readonly limits: ProxyLimits;
  /** The HSTS value for a request's answers, if any (net/hsts.ts). */
  readonly hsts: (req: IncomingMessage) => string | undefined;
  /** Other edges holding the connectors this one lacks (PostgreSQL store); undefined for a lone edge. */
  readonly relay: EdgeRelay | undefined;
}

/** A request that passed every check, ready to be sent: who asks, and the tunnel connection (or peer edge) to try first. */
interface Prepared {
  readonly decision: Allowed;
  readonly conn: StreamCarrier;
  readonly request: RequestHead;
  /** The edge's own answer headers (request id, HSTS), as a field list. */
  readonly edgeHeaders: readonly string[];
}

/**
 * Entry point of browser traffic for socket hosts. A request walks forward: route (done by the
 * server) → limits → policy → identity → prepare → exchange → answer. Each stage is one call that
 * hands a richer value to the next or ends the request with one refusal, written by its Downstream.
 */
export class ProxyHandler {
  /** What every exchange uses, made once: connections, the aborted-request count, the answer timeout. */
  private readonly exchangeServices: ExchangeServices;

  constructor(private readonly deps: ProxyDeps) {
    const { registry, limits, config, relay } = deps;
    this.exchangeServices = {
      pickConnection: (socketId, exclude) => registry.pick(socketId, exclude) ?? relay?.next(socketId, exclude),
      abandoned: (req) => limits.recordAbort(req),
      timeoutMs: config.upstreamTimeoutMs,
      deadlines: new Deadlines(Deadlines.tickFor(config.upstreamTimeoutMs)),
    };
  }

  handleRequest(req: IncomingMessage, res: ServerResponse, socket: SocketRecord, host: string): void {
    const down = new ResponseDownstream(req, res, this.deps.access.begin(req, host, socket.id, 'http'), this.edgeHeaders(req));
    const refusal = this.admit(req, socket, host);
    if (refusal) return down.refuse(refusal);
    if (req.url!.startsWith(RESERVED_PREFIX)) {
      down.stamp();
      continueIfExpected(req, res);
      this.deps.reserved.handle(req, res, socket, host).catch((err: unknown) => this.internal(down, err));
      return;
    }
    const decision = this.deps.gate.check(req, socket, host);
    if (!(decision instanceof Promise)) return this.decided(down, socket, host, decision);
    decision.then((d) => this.contained(down, () => this.decided(down, socket, host, d)), (err: unknown) => this.internal(down, err));
  }

  /** After the gate (synchronous while the session or token is cached). */
  private decided(down: ResponseDownstream, socket: SocketRecord, host: string, decision: GateDecision): void {
    const { req } = down;
    if (decision.kind !== 'allow') return this.deny(down, decision, socket, host);
    down.trace.user = decision.identity?.email ?? null;
    const tooLarge = this.deps.limits.checkDeclaredBody(req, socket);
    if (tooLarge) return down.refuse(tooLarge);
    const identity = this.identity(socket, host, decision);
    if (!(identity instanceof Promise)) return this.forward(down, socket, host, decision, identity);
    identity.then((headers) => this.contained(down, () => this.forward(down, socket, host, decision, headers)), (err: unknown) => this.internal(down, err));
  }

  /** A request refused before it reached a socket (no such host, or malformed), logged and counted like any request. */
  rejectUnrouted(req: IncomingMessage, res: ServerResponse, host: string, err: EdgeError): void {
    new ResponseDownstream(req, res, this.deps.access.begin(req, host, null, 'http'), this.edgeHeaders(req)).refuse(err);
  }

  handleUpgrade(req: IncomingMessage, client: Duplex, head: Buffer, socket: SocketRecord, host: string): void {
    const trace = this.deps.access.begin(req, host, socket.id, 'websocket');
    client.once('close', () => trace.finish(trace.status ?? CLIENT_CLOSED_REQUEST));
    const down = new SocketDownstream(req, client, trace);
    const refusal = this.admit(req, socket, host) ?? (req.url!.startsWith(RESERVED_PREFIX) ? new EdgeError('NOT_FOUND', 'No WebSocket endpoint here.') : undefined);
    if (refusal) return down.refuse(refusal);
    const decision = this.deps.gate.check(req, socket, host);
    if (!(decision instanceof Promise)) return this.decidedUpgrade(down, head, socket, host, decision);
    decision.then((d) => this.contained(down, () => this.decidedUpgrade(down, head, socket, host, d)), (err: unknown) => this.internal(down, err));
  }

  private decidedUpgrade(down: SocketDownstream, head: Buffer, socket: SocketRecord, host: string, decision: GateDecision): void {
    const { req, trace } = down;
    if (decision.kind === 'refused') return down.refuse(decision.error);
    if (decision.kind === 'login' || decision.kind === 'unauthorized') {
      return down.refuse(new EdgeError('UNAUTHORIZED', 'Sign in before opening a WebSocket to this app.'));
    }
    if (decision.kind === 'forbidden') {
      this.recordDenial(req, socket, decision, 'websocket', trace);
      return down.refuse(new EdgeError('POLICY_DENIED', decision.reason));
    }
    trace.user = decision.identity?.email ?? null;
    // Sibling sockets are same-site: a cookie-authenticated WebSocket must come from this very origin.
    if (decision.sessionHash && req.headers.origin !== `${this.deps.config.publicScheme}://${host}`) {
      return down.refuse(new EdgeError('FORBIDDEN', 'Cross-origin WebSocket refused: the Origin must be this app’s own.'));
    }
    const identity = this.identity(socket, host, decision);
    if (!(identity instanceof Promise)) return this.forwardUpgrade(down, head, socket, host, decision, identity);
    identity.then((headers) => this.contained(down, () => this.forwardUpgrade(down, head, socket, host, decision, headers)), (err: unknown) => this.internal(down, err));
  }

  // ---- stages ----

  /** Checks that come before any policy: the socket's protocol and the client's aborted-request rate. */
  private admit(req: IncomingMessage, socket: SocketRecord, host: string): EdgeError | undefined {
    if (socket.protocol === 'tcp') return tcpSocketError(host);
    return this.deps.limits.checkResets(req);
  }

  /** The identity headers for the app: none on a public socket; synchronous while the assertion is cached (a promise only when one must be signed). */
  private identity(socket: SocketRecord, host: string, decision: Allowed): readonly string[] | Promise<readonly string[]> {
    if (!decision.identity) return NO_IDENTITY;
    return identityHeaders(this.deps.auth, socket, `${this.deps.config.publicScheme}://${host}`, decision.identity);
  }

  /** Prepare, the exchange's limits, then the exchange itself. */
  private forward(down: ResponseDownstream, socket: SocketRecord, host: string, decision: Allowed, identity: readonly string[], conn: StreamCarrier | undefined = this.deps.registry.pick(socket.id)): void {
    if (!conn) return this.elsewhere(down, socket, host, (carrier) => this.forward(down, socket, host, decision, identity, carrier));
    const { req, res } = down;
    const prepared = this.prepare(req, socket, host, decision, identity, down.edgeHeaders, conn);
    const allowed = this.deps.limits.openExchange(req, socket, decision.identity?.userId ?? null, hasBody(req));
    if (allowed instanceof EdgeError) return down.refuse(allowed);
    continueIfExpected(req, res);
    new HttpExchange(this.exchangeInput(down, prepared, socket, host), prepared.conn, down, allowed.body, allowed.release).start();
  }

  private forwardUpgrade(
    down: SocketDownstream,
    head: Buffer,
    socket: SocketRecord,
    host: string,
    decision: Allowed,
    identity: readonly string[],
    conn: StreamCarrier | undefined = this.deps.registry.pick(socket.id),
  ): void {
    if (!conn) return this.elsewhere(down, socket, host, (carrier) => this.forwardUpgrade(down, head, socket, host, decision, identity, carrier));
    const { req, socket: client } = down;
    const prepared = this.prepare(req, socket, host, decision, identity, [REQUEST_ID_HEADER, requestIdOf(req)], conn);
    const allowed = this.deps.limits.openExchange(req, socket, decision.identity?.userId ?? null, false);
    if (allowed instanceof EdgeError) return down.refuse(allowed);
    client.once('close', allowed.release);
    // Sign-out, expiry, revocation and rule changes close this connection (see auth/live-connections.ts).
    if (decision.credential) this.deps.auth.live.add(decision.credential, socket.id, client);
    this.deps.gate.trackStream(decision.grant, 'websocket', client, req);
    this.recordStream(req, socket, decision, client);
    new UpgradeExchange(this.exchangeInput(down, prepared, socket, host), prepared.conn, down, head, prepared.edgeHeaders).start();
  }

  /**
   * No usable connection of the socket here: busy, or (PostgreSQL) sent on to an edge that holds
   * one, or offline. The request was routed, policed and given its identity here, and stays so.
   */
  private elsewhere(down: Downstream, socket: SocketRecord, host: string, send: (carrier: StreamCarrier) => void): void {
    const { registry, limits, relay } = this.deps;
    if (registry.isBusy(socket.id)) return down.refuse(limits.tunnelBusy(socket, host));
    if (!relay) return down.refuse(offline(host));
    relay.carrier(socket.id).then(
      (carrier) => {
        if (down.req.socket.destroyed) return; // the client left while the peer was found
        this.contained(down, () => (carrier ? send(carrier) : down.refuse(offline(host))));
      },
      (err: unknown) => this.internal(down, err),
    );
  }

  /** The request as the app will get it, for the tunnel connection (or peer edge) to try first. */
  private prepare(req: IncomingMessage, socket: SocketRecord, host: string, decision: Allowed, identity: readonly string[], edgeHeaders: readonly string[], conn: StreamCarrier): Prepared {
    // Only origin-form targets get here (proxy/strict-http.ts): routing and forwarding read the same host.
    const headers = upstreamRequestHeaders(req, {
      reservedNames: reservedHeaderNames(socket, this.deps.config.foreignIdentityHeaders),
      identity,
      stripAuthorization: decision.consumedAuthorization,
      clientIp: clientAddress(req),
      proto: clientScheme(req),
      publicHost: host,
      upstreamHost: conn.info.hostRewrite ?? host,
      requestId: requestIdOf(req),
    });
    return { decision, conn, request: { method: req.method!, target: req.url!, headers }, edgeHeaders };
  }

  private exchangeInput(downstream: Downstream, prepared: Prepared, socket: SocketRecord, host: string): ExchangeInput {
    return {
      request: prepared.request,
      downstream,
      socketId: socket.id,
      targetName: host,
      email: prepared.decision.identity?.email ?? null,
      proxy: this.exchangeServices,
    };
  }

  // ---- answers and records ----

  /** The edge's headers on every answer to `req`: its request id, and HSTS where it applies. */
  private edgeHeaders(req: IncomingMessage): string[] {
    const sts = this.deps.hsts(req);
    return sts ? [REQUEST_ID_HEADER, requestIdOf(req), HSTS_HEADER, sts] : [REQUEST_ID_HEADER, requestIdOf(req)];
  }

  private deny(down: ResponseDownstream, decision: Denied, socket: SocketRecord, host: string): void {
    if (decision.kind === 'login') return down.redirect(decision.location);
    if (decision.kind === 'unauthorized') return down.refuse(new EdgeError('UNAUTHORIZED', decision.message));
    if (decision.kind === 'refused') {
      if (decision.denial) this.recordDenial(down.req, socket, decision.denial, 'http', down.trace);
      return down.refuse(decision.error);
    }
    this.recordDenial(down.req, socket, decision, 'http', down.trace);
    const origin = `${this.deps.config.publicScheme}://${host}`;
    const page = forbiddenPage({
      who: decision.who,
      socket: host,
      reason: decision.reason,
      signOutHref: '/.postern/signout',
      switchHref: `${this.deps.auth.edgeUrl}/auth/login?switch=1&rd=${encodeURIComponent(`${origin}/`)}`,
      footer: host,
    });
    down.refuse(new EdgeError('POLICY_DENIED', decision.reason), page);
  }

  private recordDenial(req: IncomingMessage, socket: SocketRecord, decision: { readonly who: string; readonly reason: string; readonly access?: AccessDetail }, via: string, trace: RequestTrace): void {
    trace.user = decision.who;
    trace.reason = decision.reason;
    this.deps.audit.denied({ accountId: socket.accountId, socketId: socket.id, actor: decision.who, remote: clientAddress(req) || null, reason: decision.reason, via, access: decision.access });
  }

  /** WebSocket sessions of signed-in sockets are audited with who and how long (public ones are not: no one to name). */
  private recordStream(req: IncomingMessage, socket: SocketRecord, decision: Allowed, client: Duplex): void {
    if (!decision.identity) return;
    const base = { accountId: socket.accountId, socketId: socket.id, actor: decision.identity.email ?? decision.identity.userId, remote: clientAddress(req) || null };
    const path = (req.url ?? '/').split('?')[0];
    const openedAt = Date.now();
    this.deps.audit.record({ ...base, type: 'stream.open', detail: { kind: 'websocket', path } });
    client.once('close', () => this.deps.audit.record({ ...base, type: 'stream.close', detail: { kind: 'websocket', path, duration_ms: Date.now() - openedAt } }));
  }

  /** A step that runs after the assertion was signed, outside server.ts's boundary: contained the same way. */
  private contained(down: Downstream, step: () => void): void {
    containRequest(step, (fault) => down.trace.fault(fault), (err) => down.refuse(err));
  }

  private internal(down: Downstream, err: unknown): void {
    const outage = storeOutageOf(err);
    if (outage) return down.refuse(outage);
    this.deps.log.error({ err, reqId: requestIdOf(down.req), host: down.trace.host }, 'request failed inside the edge');
    down.refuse(new EdgeError('INTERNAL', 'internal error'));
  }
}

function offline(host: string): EdgeError {
  return new EdgeError('TUNNEL_OFFLINE', `No connector is online for ${host}. The app's owner needs to run "postern connect" (or it is reconnecting).`);
}

/** A TCP socket carries raw bytes through `postern tcp`, never HTTP. */
function tcpSocketError(host: string): EdgeError {
  return new EdgeError('WRONG_PROTOCOL', `this is a TCP socket; reach it with "postern tcp --socket ${host.replace(/:\d+$/, '')}"`);
}
