import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { clientAddress, peerAddress } from '../net/client-address.js';
import { EdgeError } from '../errors.js';
import { cookieOverflowPage } from '../pages/cookie-overflow-page.js';
import { writeErrorOnSocket } from '../pages/error-page.js';
import type { LimitReporter } from './reporter.js';

/**
 * Node keeps at most `server.maxHeadersCount` header fields of a request and silently drops the rest;
 * the server keeps one more than the limit, so a request over it shows here (and its answer is 431,
 * never a request forwarded without headers the client sent).
 */
export const headersKeptByNode = (maxHeaderCount: number): number => maxHeaderCount + 1;

export function tooManyHeaders(req: IncomingMessage, maxHeaderCount: number, reporter: LimitReporter): EdgeError | undefined {
  if (req.rawHeaders.length / 2 <= maxHeaderCount) return undefined;
  const client = clientAddress(req);
  reporter.hit('header_count', client, 'request with too many header fields', { client, max: maxHeaderCount });
  return new EdgeError('TOO_MANY_HEADERS', `The request has more than ${maxHeaderCount} header fields.`, { headers: { connection: 'close' } });
}

/** How often Node looks for connections past the header timeout: a fraction of it, at most every 5 s. */
export const connectionsCheckingInterval = (headerTimeoutMs: number): number => Math.min(5_000, Math.max(100, Math.floor(headerTimeoutMs / 4)));

/**
 * Answers a connection whose request head Node refused (Fastify's `clientErrorHandler`): headers
 * too large (431), sent too slowly (408), or malformed (400), each with the edge's error page. A
 * connection that never sent a byte before the header timeout is only closed: an unused
 * (pre)connection, not a slow client.
 */
export function clientErrorHandler(reporter: () => LimitReporter, limits: { readonly maxHeaderBytes: number; readonly headerTimeoutMs: number; readonly domain: string }) {
  return (err: NodeJS.ErrnoException, socket: Duplex): void => {
    if (err.code === 'ECONNRESET' || socket.destroyed) return;
    const client = peerAddress(socket);
    let answer: EdgeError | undefined;
    let page: string | undefined;
    if (err.code === 'HPE_HEADER_OVERFLOW') {
      reporter().hit('header_size', client, 'request headers over the size limit', { client, max: limits.maxHeaderBytes });
      answer = new EdgeError('HEADERS_TOO_LARGE', `The request headers are larger than ${limits.maxHeaderBytes} bytes.`);
      // Oversized headers from a browser are nearly always a cookie bomb on the parent domain: the page clears it.
      page = cookieOverflowPage({ maxHeaderBytes: limits.maxHeaderBytes, domain: limits.domain, footer: limits.domain });
    } else if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
      if ((socket as Duplex & { bytesRead?: number }).bytesRead !== 0) {
        reporter().hit('header_timeout', client, 'request head not received in time', { client, timeout_ms: limits.headerTimeoutMs });
        answer = new EdgeError('REQUEST_TIMEOUT', `The request headers did not arrive within ${limits.headerTimeoutMs / 1000} s.`);
      }
    } else {
      answer = new EdgeError('BAD_REQUEST', 'The request is not valid HTTP/1.1.');
    }
    // As Node does: never write into a response that has started on this connection.
    const inFlight = (socket as Duplex & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (answer && socket.writable && !inFlight?.headersSent) writeErrorOnSocket(socket, answer, false, '', undefined, page);
    socket.destroy(err);
  };
}
