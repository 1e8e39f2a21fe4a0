import type { FastifyBaseLogger } from 'fastify';
import type { AuditLog } from '../audit/audit-log.js';
import type { Store } from '../store/index.js';
import type { IdpGrantRecord } from '../store/idp-grants.js';
import type { User } from '../store/users.js';
import { identityChanges, type IdentityUpdater } from './identity-change.js';
import type { IdpSessions } from './idp-sessions.js';
import { GrantEndedError, type RedirectProvider } from './providers/types.js';

/** At most this many grants per tick, this many at once: a burst of due sessions is spread out. */
const BATCH = 50;
const PARALLEL = 4;
/** A grant taken for re-validation is not taken again for this long (an edge that dies mid-way frees it). */
const LEASE_MS = 2 * 60_000;
/** An IdP that did not answer is asked again this soon (or after one period, if that is shorter). */
const RETRY_MS = 60_000;

export interface RevalidationDeps {
  readonly store: Store;
  readonly idp: IdpSessions;
  readonly providers: ReadonlyMap<string, RedirectProvider>;
  readonly identities: IdentityUpdater;
  readonly audit: AuditLog;
  readonly log: FastifyBaseLogger;
  readonly periodMs: number;
  /** Sessions idle this long are over (config --session-idle): their grants are not re-validated. */
  readonly idleMs: number;
}

/**
 * Sessions follow the IdP: every `periodMs` each sign-in is checked again with its IdP (refresh
 * token grant for OIDC, the API for GitHub and Facebook). A refusal (user disabled, grant revoked,
 * claims now refused) ends the login, its socket sessions and the tokens made with it, live streams
 * included; changed claims apply at once, to live streams too. An IdP that does not answer is asked
 * again every minute; after two periods without an answer the session ends (fail closed).
 */
export class SessionRevalidator {
  private readonly timer: NodeJS.Timeout;
  private running: Promise<void> | undefined;

  constructor(private readonly deps: RevalidationDeps) {
    const tickMs = Math.min(Math.max(Math.floor(deps.periodMs / 4), 250), 30_000);
    this.timer = setInterval(() => {
      this.runDue().catch((err: unknown) => deps.log.error({ err }, 'session re-validation pass failed'));
    }, tickMs);
    this.timer.unref();
  }

  /** One pass over the due grants (ticks never overlap). */
  runDue(now = Date.now()): Promise<void> {
    this.running ??= this.pass(now).finally(() => (this.running = undefined));
    return this.running;
  }

  stop(): Promise<void> {
    clearInterval(this.timer);
    return this.running ?? Promise.resolve();
  }

  private async pass(now: number): Promise<void> {
    const { idpGrants } = this.deps.store;
    const candidates = await idpGrants.due(now, BATCH);
    const claimed = await Promise.all(candidates.map((g) => idpGrants.claim(g, now + LEASE_MS)));
    const due = candidates.filter((_, i) => claimed[i]);
    for (let i = 0; i < due.length; i += PARALLEL) {
      await Promise.all(due.slice(i, i + PARALLEL).map((grant) => this.revalidate(grant, now).catch((err: unknown) => {
        this.deps.log.error({ err, grant: grant.id }, 're-validation failed unexpectedly');
      })));
    }
  }

  private async revalidate(grant: IdpGrantRecord, now: number): Promise<void> {
    const { store, idp, providers, periodMs } = this.deps;
    if (!(await store.idpGrants.held(grant, now, this.deps.idleMs))) return store.idpGrants.remove(grant.id);
    const user = await store.users.findById(grant.userId);
    const provider = providers.get(grant.provider);
    if (!user || !provider) return this.end(grant, user, `the sign-in provider "${grant.provider}" is no longer configured on this edge`);
    const credential = await idp.open(grant);
    if (!credential) return this.end(grant, user, 'its stored grant no longer opens (the client secret changed)');
    let result;
    try {
      result = await provider.revalidate(credential, user);
    } catch (err) {
      if (err instanceof GrantEndedError) return this.end(grant, user, err.message);
      if (now - grant.validatedAt >= 2 * periodMs) {
        return this.end(grant, user, `${provider.name} could not be asked for ${Math.round((now - grant.validatedAt) / 60_000)} min`);
      }
      await store.idpGrants.failed(grant.id, now + Math.min(periodMs, RETRY_MS));
      this.deps.log.warn({ provider: provider.id, user: who(user), reason: (err as Error).message }, 'session re-validation got no answer; retrying');
      return;
    }
    await idp.validated(grant, result.grant, Date.now());
    const changes = identityChanges(user, result.identity);
    if (!changes) return;
    await this.deps.identities.apply(user.id, result.identity);
    this.deps.log.info({ provider: provider.id, user: who(user), changes }, 'identity changed at the IdP');
    this.deps.audit.record({ type: 'session.changed', accountId: await this.accountOf(user), actor: who(user), detail: { provider: provider.id, ...changes } });
  }

  private async end(grant: IdpGrantRecord, user: User | undefined, reason: string): Promise<void> {
    const { tokens } = await this.deps.idp.endGrant(grant);
    const actor = user ? who(user) : grant.userId;
    this.deps.log.info({ provider: grant.provider, user: actor, reason, tokens_revoked: tokens.length }, 'session ended by its IdP');
    this.deps.audit.record({
      type: 'session.ended',
      accountId: user ? await this.accountOf(user) : null,
      actor,
      detail: { provider: grant.provider, reason, ...(tokens.length > 0 ? { tokens_revoked: tokens } : {}) },
    });
  }

  /** Events about a person go to their own account, as sign-out's do. */
  private async accountOf(user: User): Promise<string | null> {
    return user.email ? ((await this.deps.store.accounts.findByEmail(user.email))?.id ?? null) : null;
  }
}

const who = (user: User): string => user.email ?? `${user.issuer} ${user.subject}`;
