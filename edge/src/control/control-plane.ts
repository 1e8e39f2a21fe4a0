import { CloseCode } from '@postern/shared';
import type { AuditLog } from '../audit/audit-log.js';
import type { LiveConnections } from '../auth/live-connections.js';
import type { EdgeMetrics } from '../observability/metrics.js';
import type { HostRouter } from '../proxy/router.js';
import type { Store } from '../store/index.js';
import type { SocketPatch, SocketRecord } from '../store/sockets.js';
import type { ApiToken } from '../store/tokens.js';
import type { TunnelRecord } from '../store/tunnels.js';
import type { TunnelRegistry } from '../tunnel/registry.js';

/** Who changed something, for the audit log. */
export interface Actor {
  readonly email: string;
  readonly remote: string | null;
}

/**
 * Changes to sockets, tunnels and tokens with all their consequences: the host cache, live tunnel
 * connections, open WebSocket/TCP streams, and the audit log. The API and the reaper use it. Socket
 * and token changes are published on the change feed; what they close is closed on every edge, this
 * one included, when the feed delivers them (cluster/change-reactions.ts calls `socketDeleted` and
 * `endTunnelsOfToken`).
 */
export class ControlPlane {
  constructor(
    private readonly store: Store,
    private readonly registry: TunnelRegistry,
    private readonly router: HostRouter,
    private readonly live: LiveConnections,
    private readonly audit: AuditLog,
    private readonly metrics: EdgeMetrics,
  ) {}

  created(socket: SocketRecord, actor: Actor): void {
    this.router.forget(socket.hostname);
    this.audit.record({
      type: 'socket.create',
      accountId: socket.accountId,
      socketId: socket.id,
      actor: actor.email,
      remote: actor.remote,
      detail: { name: socket.name, hostname: socket.hostname, protocol: socket.protocol, cloudauth: socket.policy.default.action !== 'public', rules: socket.policy.rules.length, ephemeral: socket.ephemeral },
    });
  }

  /** New rules apply to the next request; open streams are closed so they are checked again (a new body limit alone keeps them). */
  async update(socket: SocketRecord, patch: SocketPatch, actor: Actor, changed: readonly string[]): Promise<SocketRecord> {
    const updated = (await this.store.sockets.update(socket.id, patch)) ?? socket;
    this.audit.record({ type: 'socket.update', accountId: socket.accountId, socketId: socket.id, actor: actor.email, remote: actor.remote, detail: { changed } });
    return updated;
  }

  /** Deletes a socket: its tunnels go with it (cascade) and every connection to it closes. */
  async delete(socket: SocketRecord, actor: Actor, reason = 'deleted'): Promise<void> {
    await this.store.sockets.delete(socket.id);
    this.audit.record({ type: 'socket.delete', accountId: socket.accountId, socketId: socket.id, actor: actor.email, remote: actor.remote, detail: { name: socket.name, reason } });
  }

  /** A socket is gone (here or on another edge): every stream and tunnel connection to it closes. */
  socketDeleted(socketId: string): void {
    this.live.closeSocket(socketId);
    for (const conn of this.registry.connections(socketId)) conn.session.destroy(CloseCode.SOCKET_DELETED, 'socket was deleted');
    this.metrics.forgetSocket(socketId);
  }

  tunnelCreated(tunnel: TunnelRecord, actor: Actor): void {
    this.audit.record({ type: 'tunnel.create', accountId: tunnel.accountId, socketId: tunnel.socketId, actor: actor.email, remote: actor.remote, detail: { tunnel_id: tunnel.id, name: tunnel.name } });
  }

  /** Deletes a tunnel and closes the connector connections serving it. */
  async deleteTunnel(tunnel: TunnelRecord, actor: Actor): Promise<void> {
    await this.store.tunnels.delete(tunnel.id);
    for (const conn of this.registry.connections(tunnel.socketId)) {
      if (conn.info.tunnelId === tunnel.id) conn.session.destroy(CloseCode.TUNNEL_DELETED, 'tunnel was deleted');
    }
    this.audit.record({ type: 'tunnel.delete', accountId: tunnel.accountId, socketId: tunnel.socketId, actor: actor.email, remote: actor.remote, detail: { tunnel_id: tunnel.id } });
  }

  /**
   * Closes the tunnel connections opened with a token that no longer works (revoked, expired). Its
   * connector cannot delete its quick share any more (that takes the same token), so the edge does:
   * a quick share served by this token's connectors alone goes with them.
   */
  async endTunnelsOfToken(tokenId: string, reason: string): Promise<void> {
    const ended = this.registry.all().filter((conn) => conn.info.tokenId === tokenId);
    const socketIds = new Set(ended.map((conn) => conn.info.socketId));
    for (const conn of ended) conn.session.destroy(CloseCode.UNAUTHORIZED, reason);
    for (const socketId of socketIds) {
      const socket = await this.store.sockets.findById(socketId);
      const othersServeIt = this.registry.connections(socketId).some((conn) => conn.info.tokenId !== tokenId);
      if (socket?.ephemeral && !othersServeIt) await this.delete(socket, { email: 'edge', remote: null }, "its connector's token no longer works");
    }
  }

  tokenCreated(token: ApiToken, actor: Actor, via: string): void {
    this.audit.record({ type: 'token.create', accountId: token.accountId, actor: actor.email, remote: actor.remote, detail: { token_id: token.id, name: token.name, via } });
  }

  /** Revokes a token: its tunnels and its WebSocket/TCP streams close now (on every edge, through the feed), not at the next check. */
  async revokeToken(token: ApiToken, actor: Actor): Promise<boolean> {
    if (!(await this.store.tokens.revoke(token.id))) return false;
    this.audit.record({ type: 'token.revoke', accountId: token.accountId, actor: actor.email, remote: actor.remote, detail: { token_id: token.id, name: token.name } });
    return true;
  }
}
