import type { EdgeConfig } from '../config.js';
import { DEFAULT_IDENTITY_HEADERS } from '../proxy/headers.js';
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
  readonly allowed_github_orgs: readonly string[];
  readonly allowed_github_teams: readonly string[];
  readonly allowed_groups: readonly string[];
  readonly identity_headers: { readonly email: string; readonly user: string };
  /** The socket's own body limit; null when the edge's default applies. */
  readonly max_body_bytes: number | null;
  /** Cookie-authenticated cross-origin POST/PUT/PATCH/DELETE reach the app (off by default). */
  readonly allow_cross_origin_requests: boolean;
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
    allowed_github_orgs: socket.allowedGithubOrgs,
    allowed_github_teams: socket.allowedGithubTeams,
    allowed_groups: socket.allowedGroups,
    identity_headers: {
      email: socket.identityHeaders.email ?? DEFAULT_IDENTITY_HEADERS.email,
      user: socket.identityHeaders.user ?? DEFAULT_IDENTITY_HEADERS.user,
    },
    max_body_bytes: socket.maxBodyBytes,
    allow_cross_origin_requests: socket.allowCrossOriginRequests,
    ephemeral: socket.ephemeral,
    created_at: new Date(socket.createdAt).toISOString(),
  };
}
