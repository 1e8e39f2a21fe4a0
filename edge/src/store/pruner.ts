import type { Db } from './db.js';

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
}

/**
 * Deletes rows that can never be used again: expired, idle or revoked sessions, expired sign-in
 * transactions, hand-off codes and device codes. Without it every sign-in and hand-off leaves a row
 * behind for good; with it each table holds at most what its rate limit lets in per lifetime.
 * A deleted session reads exactly like a revoked one (auth/sessions.ts finds nothing).
 */
export class ExpiredRowPruner {
  private readonly statements;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Db,
    private readonly sessionIdleMs: number,
  ) {
    this.statements = {
      sessions: db.prepare<[number, number]>('DELETE FROM sessions WHERE expires_at <= ? OR last_seen_at <= ? OR revoked_at IS NOT NULL'),
      transactions: db.prepare<[number]>('DELETE FROM login_transactions WHERE expires_at <= ?'),
      handoffCodes: db.prepare<[number]>('DELETE FROM handoff_codes WHERE expires_at <= ?'),
      deviceCodes: db.prepare<[number]>('DELETE FROM device_authorizations WHERE expires_at <= ?'),
    };
  }

  prune(now = Date.now()): PruneCounts {
    const s = this.statements;
    return this.db.transaction(() => ({
      sessions: s.sessions.run(now, now - this.sessionIdleMs - IDLE_MARGIN_MS).changes,
      transactions: s.transactions.run(now).changes,
      handoffCodes: s.handoffCodes.run(now).changes,
      deviceCodes: s.deviceCodes.run(now).changes,
    }))();
  }

  /** Prunes now and then every `everyMs`; `report` hears of each run that deleted something. */
  start(report: (counts: PruneCounts) => void, everyMs = PRUNE_EVERY_MS): void {
    const run = () => {
      try {
        const counts = this.prune();
        if (Object.values(counts).some((n) => n > 0)) report(counts);
      } catch {
        // The database is closing (shutdown): the next start prunes.
      }
    };
    run();
    this.timer = setInterval(run, everyMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
