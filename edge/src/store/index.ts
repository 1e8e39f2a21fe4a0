import type Database from 'better-sqlite3';
import { AccountStore } from './accounts.js';
import { AuditStore } from './audit.js';
import { ConsentStore } from './consents.js';
import { DeviceStore } from './devices.js';
import { openDatabase, type Db } from './db.js';
import { IdpGrantStore } from './idp-grants.js';
import { LogoutTokenIdStore } from './logout-token-ids.js';
import { SocketStore } from './sockets.js';
import { PasswordStore } from './passwords.js';
import { SessionStore } from './sessions.js';
import { SigningKeyStore } from './signing-keys.js';
import { TokenStore } from './tokens.js';
import { TransactionStore } from './transactions.js';
import { TunnelStore } from './tunnels.js';
import { UserStore } from './users.js';

/** Every table of the edge, over one SQLite connection. */
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
  private readonly probe: Database.Statement;

  constructor(readonly db: Db) {
    this.accounts = new AccountStore(db);
    this.tokens = new TokenStore(db);
    this.sockets = new SocketStore(db);
    this.users = new UserStore(db);
    this.passwords = new PasswordStore(db);
    this.transactions = new TransactionStore(db);
    this.sessions = new SessionStore(db);
    this.signingKeys = new SigningKeyStore(db);
    this.tunnels = new TunnelStore(db);
    this.audit = new AuditStore(db);
    this.devices = new DeviceStore(db);
    this.consents = new ConsentStore(db);
    this.idpGrants = new IdpGrantStore(db);
    this.logoutTokenIds = new LogoutTokenIdStore(db);
    this.probe = db.prepare('SELECT 1');
  }

  /** Whether the database answers a query (readiness); false once closed or broken. */
  ping(): boolean {
    try {
      return this.probe.get() !== undefined;
    } catch {
      return false;
    }
  }

  static open(path: string): Store {
    return new Store(openDatabase(path));
  }

  close(): void {
    this.db.close();
  }
}
