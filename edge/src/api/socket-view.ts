import { describePolicy, shorthandLists, type DefaultRule, type Rule, type ShorthandKey } from '@postern/shared/policy';
import type { EdgeConfig } from '../config.js';
import { DEFAULT_IDENTITY_HEADERS } from '../proxy/identity-header-defaults.js';
import type { SocketRecord } from '../store/sockets.js';

/**
 * The public shape of a socket (API and CLI; a tunnel's HELLO carries helloSocket). The policy is
 * `rules` and `default` as in postern.yaml; `cloudauth` and `allowed_*` are its default in
 * mysocket's terms.
 */
export type SocketView = {
  readonly id: string;
  readonly name: string;
  readonly hostname: string;
  readonly url: string;
  readonly protocol: SocketRecord['protocol'];
  /** Sign-in is required unless a rule says otherwise (the default is not public). */
  readonly cloudauth: boolean;
} & { readonly [K in ShorthandKey]: readonly string[] } & {
  readonly rules: readonly Rule[];
  readonly default: DefaultRule;
  readonly policy_revision: number;
  /** The policy in words, one line per rule and one for the default. */
  readonly access: readonly string[];
  readonly identity_headers: { readonly email: string; readonly user: string };
  /** The socket's own body limit; null when the edge's default applies. */
  readonly max_body_bytes: number | null;
  /** Cookie-authenticated cross-origin POST/PUT/PATCH/DELETE reach the app (off by default). */
  readonly allow_cross_origin_requests: boolean;
  readonly ephemeral: boolean;
  readonly created_at: string;
};

/** The host part of the edge domain, without a port. */
export const domainHost = (config: EdgeConfig): string => config.domain.replace(/:\d+$/, '');

/** Full public authority of a socket label, with the edge's port if it has one. */
export const socketAuthority = (label: string, config: EdgeConfig): string => `${label}.${config.domain}`;

/**
 * What a tunnel's HELLO says about its socket (docs/PROTOCOL.md): who it is, not its policy, which
 * may be far longer than a HELLO frame holds (16 KiB).
 */
export function helloSocket(socket: SocketRecord, config: EdgeConfig): Pick<SocketView, 'id' | 'name' | 'hostname' | 'url' | 'protocol'> {
  const { id, name, hostname, url, protocol } = socketView(socket, config);
  return { id, name, hostname, url, protocol };
}

export function socketView(socket: SocketRecord, config: EdgeConfig): SocketView {
  const { policy } = socket;
  return {
    id: socket.id,
    name: socket.name,
    hostname: `${socket.hostname}.${domainHost(config)}`,
    url: `${config.publicScheme}://${socketAuthority(socket.hostname, config)}`,
    protocol: socket.protocol,
    cloudauth: policy.default.action !== 'public',
    ...shorthandLists(policy.default),
    rules: policy.rules,
    default: policy.default,
    policy_revision: socket.policyRevision,
    access: describePolicy(policy),
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
