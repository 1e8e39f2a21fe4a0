import { tokenFailure } from '../auth/token-failure.js';
import type { Store } from '../store/index.js';
import type { TunnelRegistry } from '../tunnel/registry.js';
import type { ControlPlane } from './control-plane.js';

/** The sweep also ends tunnels whose token expired: at most this long after the expiry. */
const MAX_SWEEP_EVERY_MS = 15_000;

/** A quick share is looked at about four times within its timeout (so it goes at most 25% late). */
export const sweepInterval = (timeoutMs: number): number => Math.min(MAX_SWEEP_EVERY_MS, Math.max(250, Math.floor(timeoutMs / 4)));

/**
 * Cleans up after connectors that ended without saying goodbye (kill -9, a lost machine, a token
 * that expired): tunnel connections whose token is no longer valid are closed, and a quick share
 * without a connector for `timeoutMs` is deleted. A clean exit deletes its quick share at once.
 */
export class QuickShareReaper {
  /** Quick shares seen without a connector, since when (ms). */
  private readonly offlineSince = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly store: Store,
    private readonly registry: TunnelRegistry,
    private readonly control: ControlPlane,
    readonly timeoutMs: number,
  ) {
    this.timer = setInterval(() => this.sweep(), sweepInterval(timeoutMs));
    this.timer.unref();
  }

  sweep(now = Date.now()): void {
    this.endLapsedCredentials(now);
    const seen = new Set<string>();
    for (const socket of this.store.sockets.listEphemeral()) {
      seen.add(socket.id);
      if (this.registry.connections(socket.id).length > 0) {
        this.offlineSince.delete(socket.id);
        continue;
      }
      const since = this.offlineSince.get(socket.id) ?? now;
      this.offlineSince.set(socket.id, since);
      if (now - since >= this.timeoutMs) {
        this.offlineSince.delete(socket.id);
        this.control.delete(socket, { email: 'edge', remote: null }, 'quick share left without a connector');
      }
    }
    for (const id of this.offlineSince.keys()) if (!seen.has(id)) this.offlineSince.delete(id);
  }

  /** When the edge will remove this quick share, if it has no connector now (ms since the epoch). */
  removalAt(socketId: string): number | undefined {
    const since = this.offlineSince.get(socketId);
    return since === undefined || this.registry.connections(socketId).length > 0 ? undefined : since + this.timeoutMs;
  }

  /** A token that expired (or was revoked elsewhere) ends its tunnels too, as it ends its streams. */
  private endLapsedCredentials(now: number): void {
    const tokenIds = new Set(this.registry.all().map((conn) => conn.info.tokenId));
    for (const tokenId of tokenIds) {
      if (this.store.tokens.findLive(tokenId, now)) continue;
      const token = this.store.tokens.findById(tokenId);
      const check = { ok: false, reason: token?.revokedAt ? 'revoked' : token ? 'expired' : 'unknown', ...(token ? { token } : {}) } as const;
      this.control.endTunnelsOfToken(tokenId, tokenFailure(check).message);
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
