import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/**
 * The address a request came from, as the edge keys its limits: the peer of the TCP connection.
 * The one place that decides it, so a trusted front proxy's forwarded address can be honoured here.
 */
export function clientAddress(req: IncomingMessage): string {
  return peerAddress(req.socket);
}

/** The peer of a connection; alone for one whose request head could not be parsed (no header to trust yet). */
export function peerAddress(socket: Duplex): string {
  return (socket as Partial<Socket>).remoteAddress ?? 'unknown';
}
