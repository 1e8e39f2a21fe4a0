import { AssertionError } from 'node:assert';
import type { IncomingMessage } from 'node:http';
import { SessionClosedError, type RequestEvent } from '@postern/shared';
import type { Dispatcher } from 'undici';
import { EdgeError } from '../errors.js';
import { CLIENT_CLOSED_REQUEST, type RequestTrace } from '../observability/access-log.js';
import { loggedPath } from '../observability/logging.js';
import { requestIdOf } from '../observability/request-id.js';
import type { TunnelConnection } from '../tunnel/connection.js';
import { attempt, ContainedHandler, ExchangeFault, type FaultStage } from './exchange-faults.js';
import { upstreamError } from './upstream-errors.js';

export interface ExchangeInput {
  readonly req: IncomingMessage;
  readonly headers: string[];
  /** Picks a connection, skipping the one that just failed; undefined when none is left. */
  readonly pickConnection: (exclude?: TunnelConnection) => TunnelConnection | undefined;
  readonly targetName: string;
  /** Who is asking, for the connector's request log; null on a public socket. */
  readonly email: string | null;
  /** The access-log line and metrics of this request: the exchange adds the bytes it relays. */
  readonly trace: RequestTrace;
  /** The client left before the answer finished (counted against its aborted-request rate). */
  readonly onAbandoned: () => void;
}

/** Whether the client sends a body: framing comes from Node's strict parser. */
export const hasBody = (req: IncomingMessage): boolean => {
  const h = req.headers;
  return h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0');
};

/** Methods a request may be repeated with, to the same effect (RFC 9110, section 9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/**
 * One request sent to the app over a tunnel connection. Subclasses say where the answer goes.
 * undici calls onRequestStart only once the stream is connected and the request is about to be
 * written, so an error before it means nothing reached the app: that request (whatever its method)
 * is retried once on another connection of the socket. So is an idempotent request without a body
 * whose tunnel connection died (a connector killed, a dead link) before any answer: the app may have
 * seen it, but repeating it has the same effect (RFC 9110, section 9.2.2). When it ends, the
 * connection that carried it tells its connector (a request event: the live view of `postern connect`).
 *
 * No exception inside an exchange leaves it: the HTTP client calls it through a ContainedHandler,
 * its listeners run through `contained`, and the tunnel's streams contain their listeners (see
 * exchange-faults.ts). A fault ends this exchange only, on the same path as an upstream error.
 */
export abstract class UpstreamExchange implements Dispatcher.DispatchHandler {
  protected controller: Dispatcher.DispatchController | null = null;
  private readonly startedAt = performance.now();
  private reported = false;
  private retried = false;
  private settled = false;
  private clientGone = false;
  private fault: ExchangeFault | undefined;

  constructor(
    protected readonly input: ExchangeInput,
    protected conn: TunnelConnection,
  ) {}

  /** Sends the request. */
  start(): void {
    this.settled = false;
    this.controller = null;
    this.conn.inFlight++;
    this.contained('request', () => this.conn.pool.dispatch(this.dispatchOptions(), new ContainedHandler(this, (fault) => this.faulted(fault))));
  }

  protected abstract dispatchOptions(): Dispatcher.DispatchOptions;

  /** What every exchange sends: the client's method and target with the rebuilt headers. */
  protected baseOptions(): Dispatcher.DispatchOptions {
    const { req, headers } = this.input;
    return { origin: 'http://tunnel.postern.invalid', method: req.method ?? 'GET', path: req.url ?? '/', headers };
  }
  /** Nothing has been sent to the client yet. */
  protected abstract get untouched(): boolean;
  /** The status the client was sent, if any. */
  protected abstract get sentStatus(): number | undefined;
  /** Answer with the edge's own error page. */
  protected abstract fail(err: EdgeError): void;
  /** Tear the client connection down: a partial answer must never look complete. */
  protected abstract abortClient(err: Error): void;

  /** The client's answer is complete: what the app does next cannot change it (a 304 whose stream then errs). */
  protected get answered(): boolean {
    return false;
  }

  /** A limit the client broke on the way up (its body): answered instead of the upstream error, never retried. */
  protected get limitViolation(): EdgeError | undefined {
    return undefined;
  }

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.clientGone) controller.abort(new Error('client closed the connection'));
  }

  onResponseError(_c: Dispatcher.DispatchController, err: Error): void {
    if (this.fault) return; // already ended, by the fault that aborted the request
    if (err instanceof ExchangeFault) return this.faulted(err);
    // undici's own assertions, caught by it (a status line it cannot place, such as `099`): a fault too.
    if (err instanceof AssertionError) return this.faulted(new ExchangeFault('http_client', err));
    this.settle();
    if (this.answered) return;
    const violation = this.limitViolation;
    if (!this.untouched) return this.abortClient(violation ?? err);
    if (!violation && !this.retried && !this.clientGone && this.mayRetry(err)) {
      const next = this.input.pickConnection(this.conn);
      if (next) {
        this.retried = true;
        this.conn = next;
        this.start();
        return;
      }
    }
    this.fail(violation ?? upstreamError(err, this.input.targetName));
  }

  /** Runs a step of this exchange (a listener, the dispatch): an exception ends this exchange, not the edge. */
  protected contained(stage: FaultStage, step: () => void): void {
    const fault = attempt(stage, step);
    if (fault) this.faulted(fault);
  }

  /**
   * An exception inside this exchange: logged and counted once, the app's request aborted, and the
   * client answered with the edge's page if nothing was sent yet, or its answer cut (never complete-looking).
   */
  private faulted(fault: ExchangeFault): void {
    if (this.fault) return;
    this.fault = fault;
    this.input.trace.fault(fault);
    this.settle();
    attempt(fault.stage, () => this.controller?.abort(fault));
    if (this.answered) return;
    const message = `The edge could not complete this request to ${this.input.targetName}; it is logged with request id ${requestIdOf(this.input.req)}.`;
    const answer = attempt(fault.stage, () => (this.untouched ? this.fail(new EdgeError('EXCHANGE_FAILED', message, { cause: fault })) : this.abortClient(fault)));
    if (answer) this.abortClient(fault);
  }

  /** Whether sending the request again, on another connection, is safe after `err`. */
  private mayRetry(err: Error): boolean {
    if (this.controller === null) return true; // it never left the edge
    const { req } = this.input;
    return err instanceof SessionClosedError && IDEMPOTENT.has(req.method ?? 'GET') && !hasBody(req);
  }

  /** The client went away: stop the upstream request at once (its mux stream gets a RESET). */
  protected clientClosed(): void {
    this.clientGone = true;
    if (!this.settled) {
      this.controller?.abort(new Error('client closed the connection'));
      this.input.onAbandoned();
    }
    this.report(this.sentStatus ?? CLIENT_CLOSED_REQUEST);
  }

  /** The exchange ended with `status` (the app's, or the edge's error page): report it once. */
  protected report(status: number): void {
    if (this.reported) return;
    this.reported = true;
    this.sendEvent('request', status, this.startedAt);
  }

  /** One line of the connector's request log; best effort, never waits (see MuxSession.sendEvent). */
  protected sendEvent(t: RequestEvent['t'], status: number, since: number): void {
    if (!this.conn.info.requestEvents) return;
    const { req, email } = this.input;
    this.conn.session.sendEvent({
      t,
      ts: Date.now(),
      method: req.method ?? 'GET',
      path: loggedPath(req.url ?? '/'),
      status,
      duration_ms: Math.round(performance.now() - since),
      email,
      bytes_out: this.input.trace.bytesOut,
    });
  }

  /** The exchange is over (success or failure): release the connection's load count once. */
  protected settle(): void {
    if (this.settled) return;
    this.settled = true;
    this.conn.inFlight--;
  }
}
