import { CloseCode } from '@postern/shared';
import type { FastifyBaseLogger } from 'fastify';
import type { TokenStore } from '../store/tokens.js';
import type { TunnelRegistry } from '../tunnel/registry.js';

/** Tunnels are checked this often: a token's tunnels close at most this long after it expired. */
export const TUNNEL_CREDENTIAL_SWEEP_MS = 5_000;

const iso = (at: number): string => new Date(at).toISOString().replace(/\.\d{3}Z$/, 'Z');

/**
 * Closes connector tunnels whose token ended while they were up: expired (`--expires` passed),
 * revoked elsewhere (another edge, `postern admin token revoke` on the database) or deleted. The
 * close reason (UNAUTHORIZED, 4001) is what `postern connect` prints; it fits a close frame
 * (123 bytes). Revocation through the API closes them at once already (control/control-plane.ts);
 * WebSockets and TCP streams opened with a token follow the LiveConnections sweep.
 */
export class TunnelCredentialSweep {
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly registry: TunnelRegistry,
    private readonly tokens: Pick<TokenStore, 'findById'>,
    private readonly log: Pick<FastifyBaseLogger, 'info'>,
    everyMs = TUNNEL_CREDENTIAL_SWEEP_MS,
  ) {
    this.timer = setInterval(() => this.sweep(), everyMs);
    this.timer.unref();
  }

  /** One look at every tunnel, one lookup per distinct token. */
  sweep(now = Date.now()): void {
    const ended = new Map<string, string | null>();
    for (const conn of this.registry.all()) {
      const { tokenId } = conn.info;
      if (!ended.has(tokenId)) ended.set(tokenId, this.whyEnded(tokenId, now));
      const reason = ended.get(tokenId);
      if (!reason || conn.session.closed) continue;
      this.log.info({ socket: conn.info.socketId, connection: conn.info.id, token_id: tokenId, reason }, 'tunnel closed: its token ended');
      conn.session.destroy(CloseCode.UNAUTHORIZED, reason);
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }

  private whyEnded(tokenId: string, now: number): string | null {
    const token = this.tokens.findById(tokenId);
    if (!token) return 'its token was deleted: run "postern login" for a new one';
    if (token.revokedAt !== null) return `its token was revoked at ${iso(token.revokedAt)}: run "postern login" for a new one`;
    if (token.expiresAt !== null && token.expiresAt <= now) return `its token expired at ${iso(token.expiresAt)}: run "postern login" for a new one`;
    return null;
  }
}
