import type { ApiToken } from '../store/tokens.js';
import type { AuditEvent } from '../store/audit.js';
import type { SocketRecord } from '../store/sockets.js';
import type { TunnelRecord } from '../store/tunnels.js';
import type { Cluster } from '../cluster/cluster.js';
import type { LiveConnection } from '../cluster/presence.js';
import type { TunnelRegistry } from '../tunnel/registry.js';

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

/**
 * The connector connections of the whole cluster, read once per answer: this edge's from its
 * registry (usable ones: a draining connection takes no new requests), the other edges' from the
 * cluster's presence (cluster/presence.ts). On SQLite there are no other edges.
 */
export class ConnectionCensus {
  private readonly bySocket = new Map<string, LiveConnection[]>();

  private constructor(connections: readonly LiveConnection[]) {
    for (const conn of connections) {
      const list = this.bySocket.get(conn.socketId);
      if (list) list.push(conn);
      else this.bySocket.set(conn.socketId, [conn]);
    }
  }

  static async take(cluster: Pick<Cluster, 'self' | 'presence'>, registry: TunnelRegistry): Promise<ConnectionCensus> {
    const { self } = cluster;
    const here = registry.all().filter((c) => c.usable).map((c): LiveConnection => ({ ...c.info, connectionId: c.info.id, connectedAt: c.connectedAt, edge: self }));
    const elsewhere = (await cluster.presence.liveConnections()).filter((c) => c.edge.edgeId !== self.edgeId);
    return new ConnectionCensus([...here, ...elsewhere]);
  }

  of(socketId: string): readonly LiveConnection[] {
    return this.bySocket.get(socketId) ?? [];
  }
}

/** One live connector connection as the API and the portal show it: which edge holds it, since when. */
export interface LiveConnectionView {
  readonly id: string;
  readonly edge_id: string;
  /** Where the other edges reach that edge (empty for a lone edge). */
  readonly edge_url: string;
  readonly connected_at: string;
}

const liveConnectionView = (conn: LiveConnection): LiveConnectionView => ({
  id: conn.connectionId,
  edge_id: conn.edge.edgeId,
  edge_url: conn.edge.advertiseUrl,
  connected_at: new Date(conn.connectedAt).toISOString(),
});

/** Live state of a socket: connector connections up right now, on any edge of the cluster. */
export function socketStatus(socket: SocketRecord, census: ConnectionCensus): { online: boolean; connections: number } {
  const connections = census.of(socket.id).length;
  return { online: connections > 0, connections };
}

export interface TunnelView {
  readonly id: string;
  readonly socket_id: string;
  readonly name: string;
  readonly ephemeral: boolean;
  readonly status: 'connected' | 'offline';
  readonly connections: number;
  /** The connections counted in `connections`, with the edge each is on. */
  readonly live_connections: readonly LiveConnectionView[];
  readonly created_at: string;
  readonly last_connected_at: string | null;
}

export function tunnelView(tunnel: TunnelRecord, census: ConnectionCensus): TunnelView {
  const live = census.of(tunnel.socketId).filter((c) => c.tunnelId === tunnel.id);
  return {
    id: tunnel.id,
    socket_id: tunnel.socketId,
    name: tunnel.name,
    ephemeral: tunnel.ephemeral,
    status: live.length > 0 ? 'connected' : 'offline',
    connections: live.length,
    live_connections: live.map(liveConnectionView),
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
