import type { IncomingMessage } from 'node:http';
import {
  ErrorCode,
  HeadError,
  SessionClosedError,
  StreamResetError,
  type MuxStream,
  type RequestEvent,
  type RequestHead,
  type ResponseHead,
  type StreamHandler,
} from '@postern/shared';
import { EdgeError } from '../errors.js';
import { CLIENT_CLOSED_REQUEST } from '../observability/access-log.js';
import { loggedPath } from '../observability/logging.js';
import { requestIdOf } from '../observability/request-id.js';
import type { StreamCarrier } from '../tunnel/carrier.js';
import type { Downstream } from './answer.js';
import type { Deadlines, Expiring } from './deadlines.js';
import { attempt, ExchangeFault, type FaultStage } from './exchange-faults.js';
import { upstreamError } from './upstream-errors.js';

/** What every exchange of the proxy uses, made once (no closures per request). */
export interface ExchangeServices {
  /** Picks a connection of the socket, skipping the one that just failed; undefined when none is left. */
  readonly pickConnection: (socketId: string, exclude?: StreamCarrier) => StreamCarrier | undefined;
  /** The client left before the answer finished (counted against its aborted-request rate). */
  readonly abandoned: (req: IncomingMessage) => void;
  /**
   * How long the app may take to answer (its head): counted from the end of the request body, and
   * while the body is still being sent, from the app's last progress in taking it.
   */
  readonly timeoutMs: number;
  /** Where exchanges wait for their answer (one timer for all of them). */
  readonly deadlines: Deadlines;
}

export interface ExchangeInput {
  /** The request as the app will get it: method, target and the policed headers. */
  readonly request: RequestHead;
  /** Where the answer goes (and the request's trace). */
  readonly downstream: Downstream;
  readonly socketId: string;
  readonly targetName: string;
  /** Who is asking, for the connector's request log; null on a public socket. */
  readonly email: string | null;
  readonly proxy: ExchangeServices;
}

/** Methods a request may be repeated with, to the same effect (RFC 9110, section 9.2.2). */
const IDEMPOTENT = new Set(['GET', 'HEAD', 'OPTIONS', 'TRACE', 'PUT', 'DELETE']);

/** The connector says nothing reached the app: it refused the stream, or could not connect to the app. */
const notDelivered = (err: Error): boolean =>
  err instanceof StreamResetError && err.byPeer && (err.code === ErrorCode.REFUSED_STREAM || err.code === ErrorCode.TARGET_UNREACHABLE);

/**
 * One request sent to the app over a tunnel connection: a stream whose OPEN carries the request
 * head, the request body as DATA, and the connector's RESPONSE head and body back. Subclasses say
 * where the answer goes. A request that did not reach the app (the stream could not be opened, or
 * the connector refused it or could not connect) is retried once on another connection of the
 * socket, if none of its body was sent yet; so is an idempotent request without a body whose tunnel
 * connection died before any answer (the app may have seen it, but repeating it has the same effect,
 * RFC 9110 section 9.2.2). When it ends, the connection that carried it tells its connector (a
 * request event: the live view of `postern connect`).
 *
 * No exception leaves an exchange: the session calls it only through the StreamHandler methods
 * below, each of which catches what the exchange's own code throws (a header the client's socket
 * refuses, a bug) and ends this exchange alone (`faulted`), never the session and its other streams.
 */
export abstract class UpstreamExchange implements StreamHandler, Expiring {
  /** The live stream of the current attempt; null before it, after it ended, and once we let go of it. */
  protected stream: MuxStream | null = null;
  /** The app's head arrived. */
  protected answered = false;
  /** Client body bytes handed to the stream (a request with some sent is never retried). */
  protected bodySent = 0;
  private readonly startedAt = performance.now();
  /** Body bytes written while the client's socket was full: credited to the connector on 'drain'. */
  private owed = 0;
  private waitingDrain = false;
  /** When the app last took request bytes (or the request was sent): the answer timeout counts from here. */
  private lastProgress = 0;
  private reported = false;
  private retried = false;
  private settled = true;
  private clientGone = false;
  private fault: ExchangeFault | undefined;

  constructor(
    protected readonly input: ExchangeInput,
    protected conn: StreamCarrier,
    private readonly kind: 'http' | 'websocket',
    /** The client sends a body after the head. */
    protected readonly withBody: boolean,
  ) {}

  /** Sends the request. */
  start(): void {
    try {
      this.open();
    } catch (err) {
      this.faulted('request', err);
    }
  }

  private open(): void {
    this.settled = false;
    this.conn.requestStarted();
    try {
      // A WebSocket's stream stays open after its head: its bytes follow the 101.
      this.stream = this.conn.openRequest(this.kind, this.input.request, this, this.kind === 'http' && !this.withBody);
    } catch (err) {
      if (err instanceof HeadError) return this.giveUp(new EdgeError('HEADERS_TOO_LARGE', `The request cannot be forwarded: ${err.message}.`, { cause: err }));
      return this.failed(err as Error, false);
    }
    this.lastProgress = performance.now();
    this.input.proxy.deadlines.add(this);
    this.sendBody();
  }

  /** Starts (or continues, after a retry) handing the client's body to `this.stream`. */
  protected sendBody(): void {}

  /** Stops taking the client's body (the exchange ended before it did): the rest is not the app's any more. */
  protected stopBody(): void {}

  /** The app's head: write it to the client. */
  protected abstract deliverHead(head: ResponseHead): void;
  /** The app's body bytes (see StreamHandler.onStreamData): write them to the client. */
  protected abstract deliverBody(chunk: Buffer, last: boolean): void;
  /** The stream's queue toward the app has room again. */
  protected bodyDrained(): void {}
  /** The status the client was sent, once it was. */
  protected abstract get sentStatus(): number | undefined;

  /** A limit the client broke on the way up (its body): answered instead of the upstream error, never retried. */
  protected get limitViolation(): EdgeError | undefined {
    return undefined;
  }

  // ---- StreamHandler ----

  onStreamHead(head: ResponseHead): void {
    this.input.proxy.deadlines.delete(this);
    this.answered = true;
    try {
      this.deliverHead(head);
    } catch (err) {
      this.faulted('response_head', err);
    }
  }

  onStreamData(chunk: Buffer, last: boolean): void {
    try {
      this.deliverBody(chunk, last);
    } catch (err) {
      this.faulted('response_body', err);
    }
  }

  onStreamDrain(): void {
    try {
      this.bodyDrained();
    } catch (err) {
      this.faulted('request', err);
    }
  }

  onStreamClose(err?: Error): void {
    if (this.stream === null) return; // we let go of it ourselves
    this.stream = null;
    this.input.proxy.deadlines.delete(this);
    this.settle();
    if (!err) return;
    try {
      this.failed(err, true);
    } catch (thrown) {
      this.faulted(this.answered ? 'response_body' : 'response_head', thrown);
    }
  }

  /**
   * An exception inside this exchange: logged and counted once (the request's trace), the app's
   * stream reset, and the client answered with the edge's page if nothing was sent yet, or its
   * answer cut (never complete-looking). Nothing here may throw in turn.
   */
  protected faulted(stage: FaultStage, err: unknown): void {
    if (this.fault) return;
    const fault = err instanceof ExchangeFault ? err : new ExchangeFault(stage, err);
    this.fault = fault;
    const { downstream, targetName } = this.input;
    attempt(stage, () => downstream.trace.fault(fault));
    const message = `The edge could not complete this request to ${targetName}; it is logged with request id ${requestIdOf(downstream.req)}.`;
    const failed = attempt(stage, () => this.giveUp(new EdgeError('EXCHANGE_FAILED', message, { cause: fault })));
    if (!failed) return;
    attempt(stage, () => this.release(ErrorCode.CANCEL, message));
    attempt(stage, () => downstream.cut(fault));
  }

  // ---- for subclasses ----

  /** Lets go of the current stream: the app's side is reset (it never sees a shortened body as complete). */
  protected release(code: ErrorCode, reason: string): void {
    const stream = this.stream;
    this.stream = null;
    this.input.proxy.deadlines.delete(this);
    this.settle();
    stream?.reset(code, reason);
  }

  /** The exchange ended with the edge's own answer `err` (if nothing was sent yet) or a cut. */
  protected giveUp(err: EdgeError): void {
    this.release(ErrorCode.CANCEL, err.message);
    this.stopBody();
    const { downstream } = this.input;
    if (!downstream.untouched) {
      downstream.cut(err);
      this.report(this.sentStatus ?? err.status);
      return;
    }
    downstream.refuse(err);
    this.report(err.status);
  }

  /** The client went away (its socket's 'close'): the app's stream is reset at once. */
  protected clientClosed(sentStatus: number | undefined): void {
    this.clientGone = true;
    try {
      if (!this.settled) {
        this.release(ErrorCode.CANCEL, 'the client closed the connection');
        this.input.proxy.abandoned(this.input.downstream.req);
      }
      this.report(sentStatus ?? CLIENT_CLOSED_REQUEST);
    } catch (err) {
      this.faulted('response_body', err);
    }
  }

  /**
   * Writes answer bytes to the client. The connector gets their credit back once the client's socket
   * took them (write() returned true, or on 'drain'), never on receipt. Throws what `target` throws.
   */
  protected writeToClient(target: NodeJS.WritableStream, chunk: Buffer): void {
    this.input.downstream.trace.bytesOut += chunk.length;
    const ok = target.write(chunk);
    if (ok && !this.waitingDrain) return void this.stream?.consumed(chunk.length);
    this.owed += chunk.length;
    if (this.waitingDrain) return;
    this.waitingDrain = true;
    target.once('drain', this.onClientDrain);
  }

  private readonly onClientDrain = (): void => {
    this.waitingDrain = false;
    const owed = this.owed;
    this.owed = 0;
    try {
      this.stream?.consumed(owed);
    } catch (err) {
      this.faulted('response_body', err);
    }
  };

  /** The app took more of the request (its body moves on): the answer timeout starts over. */
  protected progressed(): void {
    this.lastProgress = performance.now();
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
    const { request, email, downstream } = this.input;
    this.conn.session.sendEvent({
      t,
      ts: Date.now(),
      method: request.method,
      path: loggedPath(request.target),
      status,
      duration_ms: Math.round(performance.now() - since),
      email,
      bytes_out: downstream.trace.bytesOut,
    });
  }

  /** The request is over on its connection (success or failure): release the connection's load count once. */
  protected settle(): void {
    if (this.settled) return;
    this.settled = true;
    this.conn.requestEnded();
  }

  // ---- internals ----

  // ---- Expiring: the answer timeout ----

  get deadline(): number {
    return this.lastProgress + this.input.proxy.timeoutMs;
  }

  expire(now: number): void {
    if (this.answered || this.stream === null) return;
    if (this.deadline > now) return this.input.proxy.deadlines.add(this); // the body moved on meanwhile
    try {
      this.giveUp(new EdgeError('APP_TIMEOUT', `The app behind ${this.input.targetName} did not answer within ${this.input.proxy.timeoutMs / 1000} s.`));
    } catch (err) {
      this.faulted('response_head', err);
    }
  }

  /** The attempt failed with `err`; `opened`: its stream existed (the OPEN may have reached the connector). */
  private failed(err: Error, opened: boolean): void {
    this.settle();
    if (this.clientGone) return;
    const violation = this.limitViolation;
    if (this.answered) {
      this.input.downstream.cut(violation ?? err);
      this.report(this.sentStatus ?? 502);
      return;
    }
    if (!violation && this.mayRetry(err, opened)) {
      const next = this.input.proxy.pickConnection(this.input.socketId, this.conn);
      if (next) {
        this.retried = true;
        this.conn = next;
        this.open();
        return;
      }
    }
    this.giveUp(violation ?? upstreamError(err, this.input.targetName));
  }

  /** Whether sending the request again, on another connection, is safe after `err`. */
  private mayRetry(err: Error, opened: boolean): boolean {
    if (this.retried || this.bodySent > 0) return false;
    if (!opened || notDelivered(err)) return true; // it never reached the app
    return err instanceof SessionClosedError && !this.withBody && IDEMPOTENT.has(this.input.request.method);
  }
}
