// The public face of the cluster building blocks (`@postern/edge/cluster`), for the edge's wiring and the tests.
export { createCluster, CLUSTER_DEFAULTS, type Cluster, type ClusterTiming } from './cluster.js';
export { LEASE_DEFAULTS, PostgresEdgeLease, type EdgeInfo, type EdgeLease, type LeaseTiming } from './edge-lease.js';
export { PostgresPresence, type LiveConnection, type Presence, type PresenceEntry } from './presence.js';
export { CHANGE_TOPICS, FEED_DEFAULTS, PostgresChangeFeed, type Change, type ChangeFeed, type ChangeTopic, type FeedEvent, type FeedTiming } from './change-feed.js';
export { ChangeCursor } from './change-cursor.js';
export { PostgresJobLease, SingletonJob, soleHolder, type JobLease } from './singleton-job.js';
export { ensureSigningKeys } from './signing-keys.js';
export { LocalChangeFeed, LocalEdgeLease, LocalPresence } from './local.js';
