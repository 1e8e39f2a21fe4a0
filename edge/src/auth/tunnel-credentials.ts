import type { FastifyBaseLogger } from 'fastify';
import { isStoreOutage } from '../store-outage.js';
import type { TokenStore } from '../store/tokens.js';
import type { TunnelRegistry } from '../tunnel/registry.js';
import { tokenFailure } from './token-failure.js';

/** Tunnels are checked this often: a token's tunnels close at most this long after it expired. */
export const TUNNEL_CREDENTIAL_SWEEP_MS = 5_000;

/** Closes the tunnels of a token that ended (and the quick shares only they served: control/control-plane.ts). */
export type EndTunnelsOfToken = (tokenId: string, reason: string) => Promise<void>;

/**
 * Finds connector tunnels whose token ended while they were up: expired (`--expires` passed),
 * revoked elsewhere (another edge, `postern admin token revoke` on the database) or deleted, and
 * ends them with the words the handshake would use (token-failure.ts), which `postern connect`
 * prints. Revocation through the API ends them at once already; WebSockets and TCP streams opened
 * with a token follow the LiveConnections sweep.
 */
export class TunnelCredentialSweep {
  private readonly timer: NodeJS.Timeout;
  private sweeping: Promise<void> | undefined;

  constructor(
    private readonly registry: TunnelRegistry,
    private readonly tokens: Pick<TokenStore, 'checkById'>,
    private readonly end: EndTunnelsOfToken,
    private readonly log: Pick<FastifyBaseLogger, 'info' | 'warn'>,
    everyMs = TUNNEL_CREDENTIAL_SWEEP_MS,
  ) {
    this.timer = setInterval(() => void this.sweep(), everyMs);
    this.timer.unref();
  }

  /** One look at every tunnel, one lookup per distinct token (one sweep at a time; a failed one is tried at the next tick). */
  sweep(now = Date.now()): Promise<void> {
    this.sweeping ??= this.pass(now)
      .catch((err: unknown) => this.log.warn({ err }, 'tunnel token sweep failed'))
      .finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  private async pass(now: number): Promise<void> {
    const tokenIds = new Set(this.registry.all().filter((conn) => !conn.session.closed).map((conn) => conn.info.tokenId));
    for (const tokenId of tokenIds) {
      let check: Awaited<ReturnType<TokenStore['checkById']>>;
      try {
        check = await this.tokens.checkById(tokenId, now);
      } catch (err) {
        if (isStoreOutage(err)) return; // the database is down: tunnels stay up, the next sweep decides
        throw err;
      }
      if (check.ok) continue;
      const reason = tokenFailure(check).message;
      this.log.info({ token_id: tokenId, reason }, 'tunnels closed: their token ended');
      await this.end(tokenId, reason);
    }
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
