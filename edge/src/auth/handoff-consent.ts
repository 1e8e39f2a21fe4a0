import type { CompiledPolicy } from '@postern/shared/policy';
import type { AuditLog } from '../audit/audit-log.js';
import { identityOf } from '../policy/identity.js';
import type { Store } from '../store/index.js';
import type { SocketRecord } from '../store/sockets.js';
import type { Maybe } from '../store/read-cache.js';
import type { User } from '../store/users.js';
import type { SessionService } from './sessions.js';

/** What the interstitial names: the app, who published it, and who the person will be there. */
export interface ConsentQuestion {
  readonly host: string;
  readonly owner: string;
  readonly who: string;
}

/**
 * The person's yes before the edge tells a socket of another account who they are. A hand-off is
 * silent by design (one sign-in for every app), so without this any socket owner could widen their
 * own rules to a visitor's domain and collect verified emails, names and signed assertions with one
 * link or a hidden iframe. The yes is remembered per user and socket, and revocable in the portal
 * (which also ends the person's sessions on that socket). The person's own sockets need none, and
 * neither do sockets whose rules let the person in nowhere (the app learns nothing then).
 */
export class HandoffConsent {
  constructor(
    private readonly store: Store,
    private readonly sessions: SessionService,
    private readonly audit: AuditLog,
    private readonly policyOf: (socket: SocketRecord) => Maybe<CompiledPolicy>,
  ) {}

  /** The question to ask before handing `user`'s login to `socket`, or undefined when there is none. */
  async question(user: User, socket: SocketRecord, host: string): Promise<ConsentQuestion | undefined> {
    const owner = await this.store.accounts.findById(socket.accountId);
    // Sessions carry only a verified email, so an account found by it really is this person's.
    if (owner && user.email !== null && owner.email.toLowerCase() === user.email.toLowerCase()) return undefined;
    if (await this.store.consents.has(user.id, socket.id)) return undefined;
    // Someone the rules turn away everywhere learns the edge's 403 page there, and the app nothing: no question.
    if (!(await this.policyOf(socket)).mayAdmit(identityOf(user))) return undefined;
    return { host, owner: owner?.email ?? 'an unknown account', who: user.email ?? user.name ?? user.subject };
  }

  async grant(user: User, socket: SocketRecord, remote: string | null): Promise<void> {
    if (!(await this.store.consents.grant(user.id, socket.id))) return;
    this.audit.record({ type: 'handoff.consent', accountId: socket.accountId, socketId: socket.id, actor: user.email ?? user.id, remote, detail: {} });
  }

  /** Withdraws the yes and signs the person out of that socket; false when there was none. */
  async revoke(user: User, socket: SocketRecord, remote: string | null): Promise<boolean> {
    if (!(await this.store.consents.revoke(user.id, socket.id))) return false;
    await this.sessions.signOutOfSocket(user.id, socket.id);
    this.audit.record({ type: 'handoff.revoke', accountId: socket.accountId, socketId: socket.id, actor: user.email ?? user.id, remote, detail: {} });
    return true;
  }
}
