import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * The address a request came from, as the edge keys it for limits: the peer of the TCP connection.
 * The one place that decides it, so a trusted front proxy's forwarded address can be honoured here.
 */
export function clientAddress(req: IncomingMessage): string {
  return peerAddress(req.socket);
}

/** The peer of a connection whose request head could not be parsed (no headers to trust yet). */
export function peerAddress(socket: Duplex): string {
  return (socket as Partial<Pick<IncomingMessage['socket'], 'remoteAddress'>>).remoteAddress ?? 'unknown';
}
