import type { FastifyBaseLogger } from 'fastify';
import type { AuditStore, NewAuditEvent } from '../store/audit.js';

/** How long the log keeps events; older ones are pruned hourly. */
export const AUDIT_RETENTION_MS = 90 * 24 * 3600_000;
/** A person hammering a socket they may not use is recorded once per minute, not per request. */
const DENIAL_REPEAT_MS = 60_000;

/**
 * Records what happened, for the owner of the resource concerned. Writing an event never fails the
 * request that caused it: a full disk shows in the log, not as a 500 to the user.
 */
export class AuditLog {
  private readonly recentDenials = new Map<string, number>();
  private readonly pruner: NodeJS.Timeout;

  constructor(
    private readonly store: AuditStore,
    private readonly log: FastifyBaseLogger,
  ) {
    const prune = () => this.safely(() => this.store.pruneBefore(Date.now() - AUDIT_RETENTION_MS));
    prune();
    this.pruner = setInterval(prune, 3600_000);
    this.pruner.unref();
  }

  record(event: NewAuditEvent): void {
    this.safely(() => this.store.append(event));
  }

  /** A policy denial, de-duplicated per (socket, who, reason) within a minute. */
  denied(event: { accountId: string; socketId: string; actor: string; remote: string | null; reason: string; via: string }, now = Date.now()): void {
    const key = `${event.socketId}\n${event.actor}\n${event.reason}`;
    const last = this.recentDenials.get(key);
    if (last !== undefined && now - last < DENIAL_REPEAT_MS) return;
    if (this.recentDenials.size > 10_000) this.recentDenials.clear();
    this.recentDenials.set(key, now);
    this.record({
      type: 'access.denied',
      at: now,
      accountId: event.accountId,
      socketId: event.socketId,
      actor: event.actor,
      remote: event.remote,
      detail: { reason: event.reason, via: event.via },
    });
  }

  stop(): void {
    clearInterval(this.pruner);
  }

  private safely(write: () => unknown): void {
    try {
      write();
    } catch (err) {
      this.log.error({ err }, 'could not write the audit log');
    }
  }
}
