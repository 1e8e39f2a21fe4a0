import type { IncomingMessage } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import type { EdgeError, EdgeErrorCode } from '../errors.js';
import type { ExchangeFault } from '../proxy/exchange-faults.js';
import { loggedPath } from './logging.js';
import { UNKNOWN_HOST_LABEL, type EdgeMetrics } from './metrics.js';
import { clientRequestId, requestIdOf } from './request-id.js';

/** Status logged when the client left before any answer (nginx's "client closed request"). */
export const CLIENT_CLOSED_REQUEST = 499;

export type TraceKind = 'http' | 'websocket';

/**
 * One request on a socket host, from its arrival to the end of its answer (for a WebSocket, to
 * the end of the session). The code that answers fills it in; it ends once, in one access-log line
 * and the request metrics.
 */
export class RequestTrace {
  bytesIn = 0;
  bytesOut = 0;
  /** Who asked, once known: the signed-in user, or the one a policy refused. */
  user: string | null = null;
  /** The edge's own refusal or error, when it answered instead of the app. */
  error: EdgeErrorCode | undefined;
  /** Why a policy refused. */
  reason: string | undefined;
  /** The status written on a raw socket (upgrades); an HTTP answer's status is read from its response. */
  status: number | undefined;
  private readonly startedAt = performance.now();
  private finished = false;
  private faulted = false;

  constructor(
    private readonly sink: AccessLog,
    readonly req: IncomingMessage,
    readonly host: string,
    readonly socketId: string | null,
    readonly kind: TraceKind,
  ) {}

  /** The edge answered with its own error page or refusal. */
  refused(err: EdgeError): void {
    this.status = err.status;
    this.error = err.code;
  }

  /** An exception ended this exchange inside the edge: logged and counted once, however many followed. */
  fault(fault: ExchangeFault): void {
    if (this.faulted) return;
    this.faulted = true;
    this.sink.fault(this, fault);
  }

  finish(status: number): void {
    if (this.finished) return;
    this.finished = true;
    this.sink.write(this, status, performance.now() - this.startedAt);
  }
}

/** Writes finished traces: one line per request at info (off at warn and above), and the metrics. */
export class AccessLog {
  constructor(
    private readonly log: FastifyBaseLogger,
    private readonly metrics: EdgeMetrics,
    private readonly enabled: boolean,
  ) {}

  begin(req: IncomingMessage, host: string, socketId: string | null, kind: TraceKind): RequestTrace {
    return new RequestTrace(this, req, host, socketId, kind);
  }

  /** Called by RequestTrace.fault, at most once per request; logged whatever the access-log level. */
  fault(trace: RequestTrace, fault: ExchangeFault): void {
    this.metrics.exchangeFailed(fault.stage);
    const { req } = trace;
    this.log.error(
      { reqId: requestIdOf(req), socket: trace.socketId, host: trace.host, method: req.method, path: loggedPath(req.url ?? '/'), stage: fault.stage, err: fault.cause },
      'exchange failed inside the edge',
    );
  }

  /** Called by RequestTrace.finish, once per request. */
  write(trace: RequestTrace, status: number, ms: number): void {
    this.metrics.requestDone(trace.socketId ?? UNKNOWN_HOST_LABEL, status, trace.kind === 'http' ? ms / 1000 : null, trace.bytesIn, trace.bytesOut);
    if (trace.error) this.metrics.refused(trace.error, trace.kind);
    if (!this.enabled) return;
    const { req } = trace;
    const line: Record<string, unknown> = {
      reqId: requestIdOf(req),
      method: req.method,
      host: trace.host,
      path: loggedPath(req.url ?? '/'),
      status,
      durationMs: Math.round(ms * 10) / 10,
      bytesIn: trace.bytesIn,
      bytesOut: trace.bytesOut,
      socket: trace.socketId,
    };
    if (trace.user) line.user = trace.user;
    if (trace.error) line.error = trace.error;
    if (trace.reason) line.reason = trace.reason;
    const clientId = clientRequestId(req);
    if (clientId) line.clientRequestId = clientId;
    this.log.info(line, trace.kind === 'websocket' ? 'websocket closed' : 'request');
  }
}
