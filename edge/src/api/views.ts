import type { ApiToken } from '../store/tokens.js';
import type { AuditEvent } from '../store/audit.js';
import type { SocketRecord } from '../store/sockets.js';
import type { TunnelRecord } from '../store/tunnels.js';
import type { TunnelRegistry } from '../tunnel/registry.js';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/** Live state of a socket: connector connections up right now. */
export function socketStatus(socket: SocketRecord, registry: TunnelRegistry): { online: boolean; connections: number } {
  const connections = registry.connections(socket.id).filter((c) => c.usable).length;
  return { online: connections > 0, connections };
}

export interface TunnelView {
  readonly id: string;
  readonly socket_id: string;
  readonly name: string;
  readonly ephemeral: boolean;
  readonly status: 'connected' | 'offline';
  readonly connections: number;
  readonly created_at: string;
  readonly last_connected_at: string | null;
}

export function tunnelView(tunnel: TunnelRecord, registry: TunnelRegistry): TunnelView {
  const connections = registry.connections(tunnel.socketId).filter((c) => c.usable && c.info.tunnelId === tunnel.id).length;
  return {
    id: tunnel.id,
    socket_id: tunnel.socketId,
    name: tunnel.name,
    ephemeral: tunnel.ephemeral,
    status: connections > 0 ? 'connected' : 'offline',
    connections,
    created_at: new Date(tunnel.createdAt).toISOString(),
    last_connected_at: iso(tunnel.lastConnectedAt),
  };
}

export interface TokenView {
  readonly id: string;
  readonly name: string;
  readonly prefix: string;
  readonly created_at: string;
  readonly expires_at: string | null;
  readonly revoked_at: string | null;
  readonly last_used_at: string | null;
  /** The token this request was made with. */
  readonly current: boolean;
}

export function tokenView(token: ApiToken, currentId: string | undefined): TokenView {
  return {
    id: token.id,
    name: token.name,
    prefix: token.prefix,
    created_at: new Date(token.createdAt).toISOString(),
    expires_at: iso(token.expiresAt),
    revoked_at: iso(token.revokedAt),
    last_used_at: iso(token.lastUsedAt),
    current: token.id === currentId,
  };
}

export interface AuditView {
  readonly id: number;
  readonly at: string;
  readonly type: string;
  readonly socket_id: string | null;
  readonly actor: string | null;
  readonly remote: string | null;
  readonly detail: Readonly<Record<string, unknown>>;
}

export const auditView = (event: AuditEvent): AuditView => ({
  id: event.id,
  at: new Date(event.at).toISOString(),
  type: event.type,
  socket_id: event.socketId,
  actor: event.actor,
  remote: event.remote,
  detail: event.detail,
});
