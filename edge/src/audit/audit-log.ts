import type { RequestFacts } from '@postern/shared/policy';
import type { FastifyBaseLogger } from 'fastify';
import { AUDIT_BATCH_MAX, type AuditStore, type NewAuditEvent } from '../store/audit.js';

/** How long the log keeps events; older ones are pruned by the pruning job (store/pruner.ts). */
export const AUDIT_RETENTION_MS = 90 * 24 * 3600_000;
/** A person hammering a socket they may not use is recorded once per minute, not per request. */
const DENIAL_REPEAT_MS = 60_000;
/** An access the policy let through is recorded once per (who, method, path, rule) and hour: what `policy diff` replays. */
const ACCESS_REPEAT_MS = 3600_000;
/** New access rows per socket and minute at most: a client walking random paths cannot fill the disk. */
const ACCESS_ROWS_PER_MINUTE = 600;
/** Events waiting for the database at most; beyond, new ones are dropped (and the drop logged once per outage). */
const QUEUE_MAX = 10_000;

/** Where a request was going when the policy decided (kept for `policy diff`). */
export interface AccessDetail {
  readonly path: string | null;
  readonly method: string | null;
  readonly rule: number | null;
  readonly user_id?: string;
}

/**
 * Records what happened, for the owner of the resource concerned. Writing an event never fails the
 * request that caused it: a full disk or a database away shows in the log, not as a 500 to the user.
 * Events are written in order; those recorded while a write is under way go together in the next one.
 */
export class AuditLog {
  private readonly recentDenials = new Map<string, number>();
  private readonly recentAccesses = new Map<string, number>();
  private readonly accessBudget = new Map<string, { minute: number; rows: number }>();
  private readonly queue: NewAuditEvent[] = [];
  private writing: Promise<void> | undefined;
  private dropping = false;

  constructor(
    private readonly store: AuditStore,
    private readonly log: FastifyBaseLogger,
  ) {}

  record(event: NewAuditEvent): void {
    if (this.queue.length >= QUEUE_MAX) {
      if (!this.dropping) this.log.error(`the audit log is ${QUEUE_MAX} events behind the database: dropping new events until it catches up`);
      this.dropping = true;
      return;
    }
    this.queue.push({ ...event, at: event.at ?? Date.now() });
    this.writing ??= this.drain();
  }

  /** Resolves once every event recorded so far is written (or its write failed and was logged). */
  async settled(): Promise<void> {
    while (this.writing) await this.writing;
  }

  /** A policy denial, de-duplicated per (socket, who, reason, path, method) within a minute. */
  denied(
    event: { accountId: string; socketId: string; actor: string; remote: string | null; reason: string; via: string; access?: AccessDetail },
    now = Date.now(),
  ): void {
    const key = `${event.socketId}\n${event.actor}\n${event.reason}\n${event.access?.method}\n${event.access?.path}`;
    if (!fresh(this.recentDenials, key, now, DENIAL_REPEAT_MS) || !this.withinBudget(event.socketId, now)) return;
    this.record({
      type: 'access.denied',
      at: now,
      accountId: event.accountId,
      socketId: event.socketId,
      actor: event.actor,
      remote: event.remote,
      detail: { ...event.access, reason: event.reason, via: event.via },
    });
  }

  /**
   * An access the policy allowed (null actor: a public rule), once per (socket, who, method, path,
   * rule) and hour. Fully public sockets never call this.
   */
  allowed(event: { socket: { id: string; accountId: string }; actor: string | null; facts: RequestFacts; rule: number | null; userId?: string }): void {
    const { socket, actor, facts } = event;
    const key = `${socket.id}\n${actor}\n${facts.method}\n${facts.path}\n${event.rule}`;
    if (!fresh(this.recentAccesses, key, facts.at, ACCESS_REPEAT_MS) || !this.withinBudget(socket.id, facts.at)) return;
    const access: AccessDetail = { path: facts.path, method: facts.method, rule: event.rule, ...(event.userId ? { user_id: event.userId } : {}) };
    const detail = { ...access, ...(facts.corsPreflight ? { preflight: true } : {}) };
    this.record({ type: 'access.allowed', at: facts.at, accountId: socket.accountId, socketId: socket.id, actor, remote: facts.ip, detail });
  }

  private withinBudget(socketId: string, now: number): boolean {
    const minute = Math.floor(now / 60_000);
    const budget = this.accessBudget.get(socketId);
    if (budget?.minute !== minute) {
      if (this.accessBudget.size > 10_000) this.accessBudget.clear();
      this.accessBudget.set(socketId, { minute, rows: 1 });
      return true;
    }
    return ++budget.rows <= ACCESS_ROWS_PER_MINUTE;
  }

  /** Writes what is queued; the edge calls it before closing the store. */
  stop(): Promise<void> {
    return this.settled();
  }

  private async drain(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, AUDIT_BATCH_MAX);
      try {
        await this.store.append(...batch);
        this.dropping = false;
      } catch (err) {
        this.log.error({ err, events: batch.length }, 'could not write the audit log');
      }
    }
    this.writing = undefined;
  }
}

/** True (and remembered) when `key` was not seen within `windowMs`; the memory is bounded. */
function fresh(recent: Map<string, number>, key: string, now: number, windowMs: number): boolean {
  const last = recent.get(key);
  if (last !== undefined && now - last < windowMs) return false;
  if (recent.size > 10_000) recent.clear();
  recent.set(key, now);
  return true;
}
