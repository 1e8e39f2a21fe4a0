import type { EdgeConfig } from '../config.js';
import type { SocketRecord } from '../store/sockets.js';

/** The public shape of a socket (API, CLI and the tunnel HELLO). */
export interface SocketView {
  readonly id: string;
  readonly name: string;
  readonly hostname: string;
  readonly url: string;
  readonly protocol: SocketRecord['protocol'];
  readonly cloudauth: boolean;
  readonly allowed_email_domains: readonly string[];
  readonly allowed_email_addresses: readonly string[];
  readonly ephemeral: boolean;
  readonly created_at: string;
}

/** The host part of the edge domain, without a port. */
export const domainHost = (config: EdgeConfig): string => config.domain.replace(/:\d+$/, '');

/** Full public authority of a socket label, with the edge's port if it has one. */
export const socketAuthority = (label: string, config: EdgeConfig): string => `${label}.${config.domain}`;

export function socketView(socket: SocketRecord, config: EdgeConfig): SocketView {
  return {
    id: socket.id,
    name: socket.name,
    hostname: `${socket.hostname}.${domainHost(config)}`,
    url: `${config.publicScheme}://${socketAuthority(socket.hostname, config)}`,
    protocol: socket.protocol,
    cloudauth: socket.cloudauth,
    allowed_email_domains: socket.allowedEmailDomains,
    allowed_email_addresses: socket.allowedEmailAddresses,
    ephemeral: socket.ephemeral,
    created_at: new Date(socket.createdAt).toISOString(),
  };
}
