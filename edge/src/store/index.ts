import { createCluster, type Cluster } from '../cluster/cluster.js';
import type { EdgeInfo } from '../cluster/edge-lease.js';
import { AccountStore } from './accounts.js';
import { AuditStore } from './audit.js';
import { ConsentStore } from './consents.js';
import { DeviceStore } from './devices.js';
import { openSqliteStore } from './db.js';
import { IdpGrantStore } from './idp-grants.js';
import { randomId } from './ids.js';
import { LogoutTokenIdStore } from './logout-token-ids.js';
import { SocketStore } from './sockets.js';
import { PasswordStore } from './passwords.js';
import { SessionStore } from './sessions.js';
import { SigningKeyStore } from './signing-keys.js';
import { TokenStore } from './tokens.js';
import { TransactionStore } from './transactions.js';
import { TunnelStore } from './tunnels.js';
import { UserStore } from './users.js';
import type { SqlDriver } from './sql/driver.js';
import { isPostgresUrl, openSql } from './sql/open.js';

export interface StoreOptions {
  /** This process in the cluster (edge id, where peers reach it); admin commands and tests get a throwaway one. */
  readonly self?: EdgeInfo;
}

/**
 * Every table of the edge over one SqlDriver (SQLite file or PostgreSQL), and this process's view of
 * the cluster (on SQLite: one edge, in memory). The edge starts `cluster`; admin commands only publish
 * changes through it.
 */
export class Store {
  readonly accounts: AccountStore;
  readonly tokens: TokenStore;
  readonly sockets: SocketStore;
  readonly users: UserStore;
  readonly passwords: PasswordStore;
  readonly transactions: TransactionStore;
  readonly sessions: SessionStore;
  readonly signingKeys: SigningKeyStore;
  readonly tunnels: TunnelStore;
  readonly audit: AuditStore;
  readonly devices: DeviceStore;
  readonly consents: ConsentStore;
  readonly idpGrants: IdpGrantStore;
  readonly logoutTokenIds: LogoutTokenIdStore;

  constructor(
    readonly sql: SqlDriver,
    readonly cluster: Cluster,
  ) {
    this.accounts = new AccountStore(sql);
    this.tokens = new TokenStore(sql, cluster.changes);
    this.sockets = new SocketStore(sql, cluster.changes);
    this.users = new UserStore(sql);
    this.passwords = new PasswordStore(sql);
    this.transactions = new TransactionStore(sql);
    this.sessions = new SessionStore(sql, cluster.changes);
    this.signingKeys = new SigningKeyStore(sql);
    this.tunnels = new TunnelStore(sql, cluster.changes);
    this.audit = new AuditStore(sql);
    this.devices = new DeviceStore(sql);
    this.consents = new ConsentStore(sql);
    this.idpGrants = new IdpGrantStore(sql);
    this.logoutTokenIds = new LogoutTokenIdStore(sql);
  }

  /** Whether the database answers a query (readiness); false once closed or broken. */
  ping(): Promise<boolean> {
    return this.sql.ping();
  }

  /**
   * Opens a store: a PostgreSQL URL, or a SQLite file (created if missing; its errors name the file and
   * `--db`). The schema is brought up to date under the backend's lock.
   */
  static async open(target: string, options: StoreOptions = {}): Promise<Store> {
    const sql = isPostgresUrl(target) ? await openSql(target) : await openSqliteStore(target);
    const self = options.self ?? { edgeId: `edge_${randomId(10)}`, advertiseUrl: '' };
    try {
      return new Store(sql, createCluster(sql, self));
    } catch (err) {
      await sql.close();
      throw err;
    }
  }

  /** Stops the cluster work (lease, feed, jobs) and closes the database. */
  async close(): Promise<void> {
    await this.cluster.stop();
    await this.sql.close();
  }
}
