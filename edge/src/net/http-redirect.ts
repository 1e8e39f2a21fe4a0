import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { EdgeConfig } from '../config.js';
import { EdgeError } from '../errors.js';
import { sendError } from '../pages/error-page.js';

/** A Host header: a DNS name (one socket label or the edge's own name) and an optional port. */
const HOST = /^([a-z0-9.-]{1,253})(?::\d{1,5})?$/;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

/**
 * Where a plain-HTTP request for `host` + `url` belongs on the https edge, or why it gets no
 * redirect. Only the edge's own name and one label under it qualify, and the target is built from
 * the edge's configured domain, never from the client's text: the listener cannot be used as an
 * open redirect through a forged Host.
 */
export function httpsTarget(config: EdgeConfig, host: string | undefined, url: string | undefined): string | EdgeError {
  const match = HOST.exec((host ?? '').toLowerCase());
  if (!match) return new EdgeError('BAD_REQUEST', 'A Host header naming this edge is required.');
  const [domainName, domainPort] = config.domain.split(':') as [string, string | undefined];
  const name = match[1]!;
  const label = name.endsWith(`.${domainName}`) ? name.slice(0, -domainName.length - 1) : undefined;
  if (name !== domainName && !(label !== undefined && LABEL.test(label))) {
    return new EdgeError('NOT_FOUND', 'This edge redirects only its own names to https.');
  }
  // Origin-form only: an absolute-form target (`GET http://elsewhere/`) would name another host.
  if (!url?.startsWith('/')) return new EdgeError('BAD_REQUEST', 'The request target must be a path.');
  const authority = label === undefined ? config.domain : `${label}.${domainName}${domainPort ? `:${domainPort}` : ''}`;
  return `https://${authority}${url}`;
}

/** `--http-redirect-listen`: answers every request with a 308 to the https edge, or an error page. */
export function createRedirectServer(config: EdgeConfig): Server {
  const server = createServer({ maxHeaderSize: config.maxHeaderBytes, headersTimeout: 30_000, requestTimeout: 30_000 });
  server.on('request', (req: IncomingMessage, res: ServerResponse) => {
    // Nothing is read from a body: drain it so keep-alive stays in step.
    req.resume();
    const target = httpsTarget(config, req.headers.host, req.url);
    if (target instanceof EdgeError) return sendError(req, res, target);
    res.writeHead(308, { location: target, 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' });
    res.end(`Moved to ${target}\n`);
  });
  return server;
}
