import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { EdgeError } from '../errors.js';
import { requestIdOf, REQUEST_ID_HEADER } from '../observability/request-id.js';
import { EDGE_PAGE_HEADERS } from './frame-protection.js';
import { renderPage } from './layout.js';

/** Programs asking for JSON get JSON; browsers get a page. */
export function wantsJson(req: IncomingMessage): boolean {
  const accept = req.headers.accept ?? '';
  return accept.includes('application/json') && !accept.includes('text/html');
}

export function renderErrorHtml(err: EdgeError, host: string): string {
  return renderPage({ title: `${err.status} ${err.title}`, eyebrow: `${err.status} · ${err.code}`, heading: err.title, text: err.message, footer: host });
}

/** Answers with the edge's own error page. `Postern-Error` tells edge errors from the app's own. */
export function sendError(req: IncomingMessage, res: ServerResponse, err: EdgeError): void {
  if (res.headersSent) {
    res.destroy(err);
    return;
  }
  const json = wantsJson(req);
  const body = json ? JSON.stringify(err.toJSON()) : renderErrorHtml(err, req.headers.host ?? '');
  // The reason is given: a statusMessage an app's answer left on `res` must not be reused.
  res.writeHead(err.status, err.title, {
    ...EDGE_PAGE_HEADERS,
    ...err.headers,
    'content-type': json ? 'application/json; charset=utf-8' : 'text/html; charset=utf-8',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'postern-error': err.code,
  });
  res.end(body);
}

/** The same answer on a raw socket, for upgrade requests that never became an HTTP response object. */
export function sendErrorOnSocket(req: IncomingMessage, socket: Duplex, err: EdgeError): void {
  writeErrorOnSocket(socket, err, wantsJson(req), req.headers.host ?? '', requestIdOf(req));
}

/**
 * Writes an error answer and closes the connection; also for requests whose head could not be
 * parsed. `page` replaces the standard error page (the 431 page that clears parent-domain cookies).
 */
export function writeErrorOnSocket(socket: Duplex, err: EdgeError, json: boolean, host: string, requestId?: string, page?: string): void {
  const body = json ? JSON.stringify(err.toJSON()) : (page ?? renderErrorHtml(err, host));
  const extra = Object.entries({ ...EDGE_PAGE_HEADERS, ...err.headers, ...(requestId ? { [REQUEST_ID_HEADER]: requestId } : {}) })
    .filter(([name]) => name !== 'connection')
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join('');
  socket.end(
    `HTTP/1.1 ${err.status} ${err.title}\r\n` +
      `content-type: ${json ? 'application/json' : 'text/html'}; charset=utf-8\r\n` +
      `content-length: ${Buffer.byteLength(body)}\r\n${extra}` +
      `cache-control: no-store\r\npostern-error: ${err.code}\r\nconnection: close\r\n\r\n` +
      body,
  );
}
