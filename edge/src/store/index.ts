import { AccountStore } from './accounts.js';
import { openDatabase, type Db } from './db.js';
import { SocketStore } from './sockets.js';
import { TokenStore } from './tokens.js';

/** Every table of the edge, over one SQLite connection. */
export class Store {
  readonly accounts: AccountStore;
  readonly tokens: TokenStore;
  readonly sockets: SocketStore;

  constructor(readonly db: Db) {
    this.accounts = new AccountStore(db);
    this.tokens = new TokenStore(db);
    this.sockets = new SocketStore(db);
  }

  static open(path: string): Store {
    return new Store(openDatabase(path));
  }

  close(): void {
    this.db.close();
  }
}
