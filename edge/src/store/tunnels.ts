import type { ChangeFeed } from '../cluster/change-feed.js';
import { randomId } from './ids.js';
import type { SqlDriver } from './sql/driver.js';

/** A named credential-less attachment point of a socket: connectors serve a socket through a tunnel. */
export interface TunnelRecord {
  readonly id: string;
  readonly socketId: string;
  readonly accountId: string;
  readonly name: string;
  /** Created by a quick `connect`, removed with its socket. */
  readonly ephemeral: boolean;
  readonly createdAt: number;
  readonly lastConnectedAt: number | null;
}

type TunnelRow = {
  id: string;
  socket_id: string;
  account_id: string;
  name: string;
  ephemeral: number;
  created_at: number;
  last_connected_at: number | null;
};

const toTunnel = (row: TunnelRow): TunnelRecord => ({
  id: row.id,
  socketId: row.socket_id,
  accountId: row.account_id,
  name: row.name,
  ephemeral: row.ephemeral === 1,
  createdAt: row.created_at,
  lastConnectedAt: row.last_connected_at,
});

export class TunnelStore {
  constructor(
    private readonly db: SqlDriver,
    private readonly changes: ChangeFeed,
  ) {}

  async create(input: { socketId: string; accountId: string; name?: string; ephemeral?: boolean }): Promise<TunnelRecord> {
    const record: TunnelRecord = {
      id: `tun_${randomId(12)}`,
      socketId: input.socketId,
      accountId: input.accountId,
      name: input.name ?? '',
      ephemeral: input.ephemeral ?? false,
      createdAt: Date.now(),
      lastConnectedAt: null,
    };
    await this.db.exec('INSERT INTO tunnels (id, socket_id, account_id, name, ephemeral, created_at) VALUES (?, ?, ?, ?, ?, ?)', [
      record.id,
      record.socketId,
      record.accountId,
      record.name,
      record.ephemeral ? 1 : 0,
      record.createdAt,
    ]);
    return record;
  }

  async findById(id: string): Promise<TunnelRecord | undefined> {
    const row = await this.db.one<TunnelRow>('SELECT * FROM tunnels WHERE id = ?', [id]);
    return row && toTunnel(row);
  }

  async listByAccount(accountId: string): Promise<TunnelRecord[]> {
    return (await this.db.query<TunnelRow>('SELECT * FROM tunnels WHERE account_id = ? ORDER BY created_at', [accountId])).map(toTunnel);
  }

  async listBySocket(socketId: string): Promise<TunnelRecord[]> {
    return (await this.db.query<TunnelRow>('SELECT * FROM tunnels WHERE socket_id = ? ORDER BY created_at', [socketId])).map(toTunnel);
  }

  async markConnected(id: string, now = Date.now()): Promise<void> {
    await this.db.exec('UPDATE tunnels SET last_connected_at = ? WHERE id = ?', [now, id]);
  }

  /** Deletes a tunnel; every edge hears of it (`tunnel` change) and ends its connections. */
  delete(id: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      if ((await tx.exec('DELETE FROM tunnels WHERE id = ?', [id])) === 0) return false;
      await this.changes.publish(tx, { topic: 'tunnel', key: id });
      return true;
    });
  }
}
