import type { FastifyBaseLogger } from 'fastify';
import type { AssertionSigner } from '../auth/assertion.js';
import { TOKEN_CREDENTIAL } from '../auth/credential-keys.js';
import type { LiveConnections } from '../auth/live-connections.js';
import type { SessionService } from '../auth/sessions.js';
import type { TokenCache } from '../auth/token-cache.js';
import { tokenFailure } from '../auth/token-failure.js';
import type { TunnelCredentialSweep } from '../auth/tunnel-credentials.js';
import type { ControlPlane } from '../control/control-plane.js';
import type { CompiledPolicies } from '../policy/compiled-policies.js';
import type { OpenStreams } from '../policy/open-streams.js';
import type { SocketGate } from '../proxy/gate.js';
import type { HostRouter } from '../proxy/router.js';
import type { Store } from '../store/index.js';
import type { SocketRecord } from '../store/sockets.js';
import type { Change, ChangeFeed, FeedEvent } from './change-feed.js';

export interface ChangeReactionDeps {
  readonly store: Store;
  readonly sessions: Pick<SessionService, 'forget' | 'forgetUser' | 'forgetAll'>;
  readonly tokens: Pick<TokenCache, 'forget' | 'clear'>;
  readonly gate: Pick<SocketGate, 'forgetToken' | 'forgetAll'>;
  readonly signer: Pick<AssertionSigner, 'forget'>;
  readonly live: Pick<LiveConnections, 'close' | 'closeSocket' | 'sweep'>;
  readonly router: Pick<HostRouter, 'forgetSocket' | 'clear'>;
  readonly policies: Pick<CompiledPolicies, 'forget' | 'clear'>;
  readonly streams: Pick<OpenStreams, 'of' | 'recheck'>;
  readonly control: Pick<ControlPlane, 'socketDeleted' | 'endTunnelsOfToken'>;
  readonly tunnelCredentials: Pick<TunnelCredentialSweep, 'sweep'>;
  readonly log: Pick<FastifyBaseLogger, 'info' | 'warn'>;
}

/**
 * What the edge does when the change feed says a row changed, whichever edge changed it (this one
 * included: local and remote changes take this one path). Caches are evicted at once; what the
 * change ends (live WebSockets and TCP streams, tunnel connections) is decided from the row as the
 * store has it now, since delivery is at least once and may come late: re-read, never toggle.
 */
export class ChangeReactions {
  private readonly unsubscribe: () => void;
  private readonly pending = new Set<Promise<void>>();

  constructor(
    feed: ChangeFeed,
    private readonly deps: ChangeReactionDeps,
  ) {
    this.unsubscribe = feed.subscribe((event) => this.heard(event));
  }

  /** Resolves when every reaction started so far has finished (tests, and stopping cleanly). */
  async settled(): Promise<void> {
    while (this.pending.size > 0) await Promise.all(this.pending);
  }

  async stop(): Promise<void> {
    this.unsubscribe();
    await this.settled();
  }

  private heard(event: FeedEvent): void {
    const reaction = event.type === 'reset' ? this.reset(event.reason) : this.changed(event.change);
    const tracked = reaction
      .catch((err: unknown) => this.deps.log.warn({ err, event }, 'change not acted on; the safety-net sweeps will catch up'))
      .finally(() => this.pending.delete(tracked));
    this.pending.add(tracked);
  }

  private async changed({ topic, key }: Change): Promise<void> {
    if (topic === 'session') return this.sessionChanged(key);
    if (topic === 'token') return this.tokenChanged(key);
    if (topic === 'socket') return this.socketChanged(key);
    // A user's identity changed (re-validation on some edge): their sessions are read again. Token holders follow within 5 s.
    if (topic === 'user') this.deps.sessions.forgetUser(key);
  }

  /** Sessions are only ever revoked: it is over everywhere, its streams close, its assertions go. */
  private async sessionChanged(idHash: string): Promise<void> {
    const { sessions, live, signer } = this.deps;
    sessions.forget(idHash);
    signer.forget(idHash);
    live.close([idHash]);
  }

  /** A token that no longer works takes its tunnels (and the quick shares only they served) and streams with it. */
  private async tokenChanged(tokenId: string): Promise<void> {
    const { store, tokens, gate, signer, live, control, log } = this.deps;
    tokens.forget(tokenId);
    gate.forgetToken(tokenId);
    const credential = `${TOKEN_CREDENTIAL}${tokenId}`;
    signer.forget(credential);
    const check = await store.tokens.checkById(tokenId);
    if (check.ok) return;
    live.close([credential]);
    // The words `postern connect` prints; a revocation's are the API's.
    const reason = check.reason === 'revoked' ? 'token was revoked' : tokenFailure(check).message;
    log.info({ token_id: tokenId, reason }, 'tunnels closed: their token ended');
    await control.endTunnelsOfToken(tokenId, reason);
  }

  /**
   * A socket that went closes every connection to it. One that changed closes the streams let in
   * under rules it no longer has (a new body limit alone keeps them: it applies to requests), and
   * its public streams are decided again under the new policy.
   */
  private async socketChanged(socketId: string): Promise<void> {
    const { store, router, policies, streams, live, control } = this.deps;
    router.forgetSocket(socketId);
    policies.forget(socketId);
    const socket = await store.sockets.findById(socketId);
    if (!socket) return control.socketDeleted(socketId);
    if (streams.of(socketId).some((stream) => !sameRules(stream.socket, socket))) live.closeSocket(socketId);
    await streams.recheck();
  }

  /** Changes may have been missed: nothing cached is trusted, and every open credential is asked about now. */
  private async reset(reason: string): Promise<void> {
    const { sessions, tokens, gate, router, policies, live, streams, tunnelCredentials, log } = this.deps;
    log.warn({ reason }, 'change feed reset: every cache dropped, live connections checked again');
    sessions.forgetAll();
    tokens.clear();
    gate.forgetAll();
    router.clear();
    policies.clear();
    await Promise.all([live.sweep(), tunnelCredentials.sweep(), streams.recheck()]);
  }
}

/** Whether two versions of a socket let in the same streams: every field `socket update` changes but the body limit, which only requests use. */
function sameRules(a: SocketRecord, b: SocketRecord): boolean {
  const rules = (s: SocketRecord) => JSON.stringify([s.name, s.policyRevision, s.identityHeaders, s.allowCrossOriginRequests]);
  return rules(a) === rules(b);
}
