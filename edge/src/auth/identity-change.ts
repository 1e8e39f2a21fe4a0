import type { Store } from '../store/index.js';
import type { OpenStreams } from '../policy/open-streams.js';
import type { User } from '../store/users.js';
import { TOKEN_CREDENTIAL } from './credential-keys.js';
import type { LiveConnections } from './live-connections.js';
import type { VerifiedIdentity } from './providers/types.js';
import type { SessionService } from './sessions.js';

/** What changed between two descriptions of the same person (for the log and the audit entry). */
export interface IdentityChanges {
  readonly email?: { readonly from: string | null; readonly to: string | null };
  readonly name?: true;
  readonly groupsAdded?: readonly string[];
  readonly groupsRemoved?: readonly string[];
  readonly githubOrgsAdded?: readonly string[];
  readonly githubOrgsRemoved?: readonly string[];
  readonly githubTeamsAdded?: readonly string[];
  readonly githubTeamsRemoved?: readonly string[];
}

/** The differences that matter, or undefined when the IdP describes the person as before (order of lists ignored). */
export function identityChanges(before: VerifiedIdentity, after: VerifiedIdentity): IdentityChanges | undefined {
  const changes: Record<string, unknown> = {};
  if (before.email !== after.email) changes.email = { from: before.email, to: after.email };
  if (before.name !== after.name) changes.name = true;
  for (const [key, a, b] of [
    ['groups', before.groups, after.groups],
    ['githubOrgs', before.githubOrgs, after.githubOrgs],
    ['githubTeams', before.githubTeams, after.githubTeams],
  ] as const) {
    const added = b.filter((v) => !a.includes(v));
    const removed = a.filter((v) => !b.includes(v));
    if (added.length > 0) changes[`${key}Added`] = added;
    if (removed.length > 0) changes[`${key}Removed`] = removed;
  }
  return Object.keys(changes).length > 0 ? (changes as IdentityChanges) : undefined;
}

/**
 * Applies what the IdP now says about a user: the stored identity, the session cache, and every
 * live WebSocket and TCP stream of theirs, decided again with the new identity (those the policy
 * no longer lets in are closed now; requests are checked against it from the next one on).
 */
export class IdentityUpdater {
  constructor(
    private readonly store: Store,
    private readonly sessions: SessionService,
    private readonly live: LiveConnections,
    private readonly streams: Pick<OpenStreams, 'reidentify'>,
    private readonly idleMs: number,
  ) {}

  async apply(userId: string, identity: VerifiedIdentity, now = Date.now()): Promise<User | undefined> {
    const user = await this.store.users.refresh(userId, identity);
    this.sessions.forgetUser(userId);
    if (!user) return undefined;
    const current = { email: user.email, groups: user.groups, githubOrgs: user.githubOrgs, githubTeams: user.githubTeams };
    for (const session of await this.store.idpGrants.liveSocketSessionsOfUser(userId, now, this.idleMs)) {
      await this.streams.reidentify(this.live.connectionsOf(session.idHash), current, now);
    }
    // Tokens made by `postern login` carry this user's identity (proxy/gate.ts reads it from the user).
    for (const tokenId of await this.store.idpGrants.liveTokensOfUser(userId, now)) {
      await this.streams.reidentify(this.live.connectionsOf(`${TOKEN_CREDENTIAL}${tokenId}`), current, now);
    }
    return user;
  }
}
