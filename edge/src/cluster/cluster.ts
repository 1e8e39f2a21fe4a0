import type { SqlDriver } from '../store/sql/driver.js';
import type { PostgresDriver } from '../store/sql/postgres-driver.js';
import { FEED_DEFAULTS, PostgresChangeFeed, type ChangeFeed, type FeedTiming } from './change-feed.js';
import { LEASE_DEFAULTS, PostgresEdgeLease, type EdgeInfo, type EdgeLease, type LeaseTiming } from './edge-lease.js';
import { LocalChangeFeed, LocalEdgeLease, LocalPresence } from './local.js';
import { PostgresPresence, type Presence } from './presence.js';
import { PostgresJobLease, SingletonJob, soleHolder } from './singleton-job.js';

export interface ClusterTiming {
  readonly lease: LeaseTiming;
  readonly feed: FeedTiming;
  /** How often dead edges' rows and old change rows are deleted (a singleton job). */
  readonly pruneEveryMs: number;
}

export const CLUSTER_DEFAULTS: ClusterTiming = { lease: LEASE_DEFAULTS, feed: FEED_DEFAULTS, pruneEveryMs: 60_000 };

/** How long a dead edge's row stays (for `tunnel ls` and debugging) before pruning. */
const DEAD_EDGE_GRACE_MS = 10 * 60_000;

/** This edge's view of the cluster: its lease, who holds which socket, what changed, shared jobs. */
export interface Cluster {
  readonly self: EdgeInfo;
  readonly lease: EdgeLease;
  readonly presence: Presence;
  readonly changes: ChangeFeed;
  /**
   * Runs `work` every `everyMs` on one edge of the cluster at a time (the lease lives three periods:
   * a holder that dies is replaced within about three). Stopped with the cluster.
   */
  job(name: string, everyMs: number, work: () => Promise<void>, onError?: (err: unknown) => void): SingletonJob;
  start(): Promise<void>;
  stop(): Promise<void>;
}

/** PostgreSQL: the shared tables and LISTEN/NOTIFY; SQLite: one edge, in memory. */
export function createCluster(db: SqlDriver, self: EdgeInfo, timing: ClusterTiming = CLUSTER_DEFAULTS): Cluster {
  const jobs: SingletonJob[] = [];
  const job: Cluster['job'] = (name, everyMs, work, onError) => {
    const lease = db.backend === 'postgres' ? new PostgresJobLease(db, name, self.edgeId, 3 * everyMs) : soleHolder;
    const singleton = new SingletonJob(lease, everyMs, work, onError);
    jobs.push(singleton);
    singleton.start();
    return singleton;
  };
  const stopJobs = () => Promise.all(jobs.splice(0).map((j) => j.stop()));

  // A type-only import: an edge on SQLite never loads pg.
  if (db.backend !== 'postgres') {
    const lease = new LocalEdgeLease(self);
    const changes = new LocalChangeFeed();
    return {
      self,
      lease,
      presence: new LocalPresence(self),
      changes,
      job,
      start: () => lease.start(),
      stop: async () => {
        await stopJobs();
        await lease.stop();
      },
    };
  }

  const lease = new PostgresEdgeLease(db, self, timing.lease);
  const changes = new PostgresChangeFeed(db as PostgresDriver, timing.feed);
  return {
    self,
    lease,
    presence: new PostgresPresence(db, lease),
    changes,
    job,
    start: async () => {
      await lease.start();
      await changes.start();
      job('cluster-prune', timing.pruneEveryMs, async () => {
        await lease.pruneDead(DEAD_EDGE_GRACE_MS);
        await changes.prune();
      });
    },
    stop: async () => {
      await stopJobs();
      await changes.stop();
      await lease.stop();
    },
  };
}
