import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { EdgeError } from '../errors.js';
import { closeAfterAnswer } from '../limits/linger.js';
import { CLIENT_CLOSED_REQUEST, type RequestTrace } from '../observability/access-log.js';
import { sendError, sendErrorOnSocket, wantsJson } from '../pages/error-page.js';
import { EDGE_PAGE_HEADERS } from '../pages/frame-protection.js';

/** Whether the client sends a body: framing comes from Node's strict parser. */
export const hasBody = (req: IncomingMessage): boolean => {
  const h = req.headers;
  return h['transfer-encoding'] !== undefined || (h['content-length'] !== undefined && h['content-length'] !== '0');
};

/**
 * Where the answer to one request on a socket host goes: an HTTP response, or the raw socket of an
 * upgrade request. The one place the proxy writes the edge's own answers (refusals, and failures
 * before the app answered), each recorded in the request's trace.
 */
export interface Downstream {
  readonly req: IncomingMessage;
  readonly trace: RequestTrace;
  /** Nothing has been sent to the client yet. */
  readonly untouched: boolean;
  /**
   * Answers with the edge's error page for `err` (JSON for programs; `page` instead of the standard
   * page for browsers). A connection whose request body was not read to its end closes after it.
   */
  refuse(err: EdgeError, page?: string): void;
  /** Tears the connection down: a partial answer must never look complete. */
  cut(err?: Error): void;
}

export class ResponseDownstream implements Downstream {
  private onClosed: (() => void) | undefined;

  constructor(
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    /** Finished when the response closes (answered, or the client left). */
    readonly trace: RequestTrace,
    /** The edge's own headers on every answer (request id, HSTS), as a field list. */
    readonly edgeHeaders: readonly string[],
  ) {
    res.once('close', this.closed);
  }

  /** Runs `callback` once when the response closes (one listener for the trace and the exchange). */
  whenClosed(callback: () => void): void {
    this.onClosed = callback;
  }

  private readonly closed = (): void => {
    const { res } = this;
    this.trace.finish(res.headersSent ? res.statusCode : CLIENT_CLOSED_REQUEST);
    this.onClosed?.();
  };

  /** Sets the edge's headers on the response, for answers written by the edge rather than relayed from the app. */
  stamp(): void {
    for (let i = 0; i < this.edgeHeaders.length; i += 2) this.res.setHeader(this.edgeHeaders[i]!, this.edgeHeaders[i + 1]!);
  }

  get untouched(): boolean {
    return !this.res.headersSent;
  }

  refuse(err: EdgeError, page?: string): void {
    this.trace.refused(err);
    const { req, res } = this;
    if (res.headersSent) return this.cut(err);
    this.stamp();
    // The rest of an unread body must not be taken for the next request.
    if (err.headers.connection === 'close' || (!req.complete && hasBody(req))) closeAfterAnswer(req, res);
    if (page === undefined || wantsJson(req)) return sendError(req, res, err);
    res.writeHead(err.status, {
      ...EDGE_PAGE_HEADERS,
      ...err.headers,
      'content-type': 'text/html; charset=utf-8',
      'content-length': Buffer.byteLength(page),
      'cache-control': 'no-store',
      'postern-error': err.code,
    });
    res.end(page);
  }

  /** A redirect the edge answers itself (sign-in). */
  redirect(location: string): void {
    this.stamp();
    this.res.writeHead(302, { location, 'cache-control': 'no-store' });
    this.res.end();
  }

  cut(err?: Error): void {
    this.res.destroy(err);
  }
}

export class SocketDownstream implements Downstream {
  /** The status written on the socket, once one was. */
  private status: number | undefined;

  constructor(
    readonly req: IncomingMessage,
    readonly socket: Duplex,
    readonly trace: RequestTrace,
  ) {}

  get untouched(): boolean {
    return this.status === undefined;
  }

  /** Records that the app's answer (its head) went out on the socket. */
  answered(status: number): void {
    this.status = status;
    this.trace.status = status;
  }

  refuse(err: EdgeError): void {
    this.trace.refused(err);
    if (this.status !== undefined) return this.cut(err);
    this.status = err.status;
    sendErrorOnSocket(this.req, this.socket, err);
  }

  cut(_err?: Error): void {
    this.socket.destroy();
  }
}
