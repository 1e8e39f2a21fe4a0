import type { IncomingMessage } from 'node:http';
import type { EdgeConfig } from '../config.js';
import { clientScheme } from './client-address.js';

export const HSTS_HEADER = 'strict-transport-security';

/**
 * Strict-Transport-Security for the edge's own host and every name under it, on answers the client
 * received over HTTPS (directly, or through a trusted TLS proxy; browsers ignore it over plain
 * HTTP anyway, and RFC 6797 says not to send it there). The edge's own host adds
 * includeSubDomains: every name under it is a socket this edge serves over https with the same
 * wildcard certificate, so no sibling can be cut off by it. Socket hosts have nothing below them
 * and get the plain policy. Other hosts (not ours) get nothing.
 */
export function hstsPolicy(config: EdgeConfig): (req: IncomingMessage) => string | undefined {
  const own = `max-age=${config.hstsMaxAgeSeconds}; includeSubDomains`;
  const socket = `max-age=${config.hstsMaxAgeSeconds}`;
  const suffix = `.${config.domain}`;
  return (req) => {
    if (clientScheme(req) !== 'https') return undefined;
    const host = (req.headers.host ?? '').toLowerCase();
    if (host === config.domain) return own;
    return host.endsWith(suffix) ? socket : undefined;
  };
}
