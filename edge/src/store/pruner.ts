import { AUDIT_RETENTION_MS } from '../audit/audit-log.js';
import type { Cluster } from '../cluster/cluster.js';
import type { SingletonJob } from '../cluster/singleton-job.js';
import type { SqlDriver } from './sql/driver.js';

/** How often the pruning job runs. Each run is a few indexed DELETEs. */
export const PRUNE_EVERY_MS = 60_000;
/**
 * Sessions idle this much longer than the idle limit are gone for sure: `last_seen_at` is written at
 * most once a minute (auth/sessions.ts), so the stored value may lag the real one by that much.
 */
const IDLE_MARGIN_MS = 5 * 60_000;

export interface PruneCounts {
  readonly sessions: number;
  readonly transactions: number;
  readonly handoffCodes: number;
  readonly deviceCodes: number;
  readonly deviceLinks: number;
  readonly logoutTokenIds: number;
  readonly auditEvents: number;
}

/**
 * Deletes rows that can never be used again: expired, idle or revoked sessions, expired sign-in
 * transactions, hand-off codes, device codes and their grant links, logout token ids past their
 * replay window, and audit events past retention. Without it every sign-in and hand-off leaves a row
 * behind for good; with it each table holds at most what its rate limit lets in per lifetime.
 * A deleted session reads exactly like a revoked one (auth/sessions.ts finds nothing).
 */
export class ExpiredRowPruner {
  private job: SingletonJob | undefined;

  constructor(
    private readonly db: SqlDriver,
    private readonly sessionIdleMs: number,
    private readonly auditRetentionMs = AUDIT_RETENTION_MS,
  ) {}

  prune(now = Date.now()): Promise<PruneCounts> {
    return this.db.transaction(async (tx) => ({
      sessions: await tx.exec('DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at <= ? OR revoked_at IS NOT NULL', [now, now - this.sessionIdleMs - IDLE_MARGIN_MS]),
      transactions: await tx.exec('DELETE FROM login_transactions WHERE expires_at <= ?', [now]),
      handoffCodes: await tx.exec('DELETE FROM handoff_codes WHERE expires_at <= ?', [now]),
      deviceCodes: await tx.exec('DELETE FROM device_authorizations WHERE expires_at <= ?', [now]),
      deviceLinks: await tx.exec('DELETE FROM idp_grant_devices WHERE expires_at <= ?', [now]),
      logoutTokenIds: await tx.exec('DELETE FROM logout_token_ids WHERE expires_at <= ?', [now]),
      auditEvents: await tx.exec('DELETE FROM audit_events WHERE at < ?', [now - this.auditRetentionMs]),
    }));
  }

  /**
   * Prunes now and then every `everyMs`, on one edge of the cluster at a time; `report` hears of each
   * run that deleted something, `onError` of one that failed (the next run tries again).
   */
  start(cluster: Cluster, report: (counts: PruneCounts) => void, onError: (err: unknown) => void, everyMs = PRUNE_EVERY_MS): void {
    this.job = cluster.job(
      'prune',
      everyMs,
      async () => {
        const counts = await this.prune();
        if (Object.values(counts).some((n) => n > 0)) report(counts);
      },
      onError,
    );
  }

  async stop(): Promise<void> {
    await this.job?.stop();
  }
}
