import type { IncomingMessage } from 'node:http';

/**
 * The address a request came from, for keying per-client limits: the one place that decides it
 * (the peer of the TCP connection; nothing a client writes in a header).
 */
export function clientAddress(req: IncomingMessage): string {
  return req.socket.remoteAddress ?? 'unknown';
}
