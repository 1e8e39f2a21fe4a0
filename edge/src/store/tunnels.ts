import type { Db } from './db.js';
import { randomId } from './ids.js';

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

interface TunnelRow {
  id: string;
  socket_id: string;
  account_id: string;
  name: string;
  ephemeral: number;
  created_at: number;
  last_connected_at: number | null;
}

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
  private readonly insert;
  private readonly byId;
  private readonly byAccount;
  private readonly bySocket;
  private readonly deleteById;
  private readonly touchStmt;

  constructor(db: Db) {
    this.insert = db.prepare<[string, string, string, string, number, number]>(
      'INSERT INTO tunnels (id, socket_id, account_id, name, ephemeral, created_at) VALUES (?, ?, ?, ?, ?, ?)',
    );
    this.byId = db.prepare<[string], TunnelRow>('SELECT * FROM tunnels WHERE id = ?');
    this.byAccount = db.prepare<[string], TunnelRow>('SELECT * FROM tunnels WHERE account_id = ? ORDER BY created_at');
    this.bySocket = db.prepare<[string], TunnelRow>('SELECT * FROM tunnels WHERE socket_id = ? ORDER BY created_at');
    this.deleteById = db.prepare<[string]>('DELETE FROM tunnels WHERE id = ?');
    this.touchStmt = db.prepare<[number, string]>('UPDATE tunnels SET last_connected_at = ? WHERE id = ?');
  }

  create(input: { socketId: string; accountId: string; name?: string; ephemeral?: boolean }): TunnelRecord {
    const record: TunnelRecord = {
      id: `tun_${randomId(12)}`,
      socketId: input.socketId,
      accountId: input.accountId,
      name: input.name ?? '',
      ephemeral: input.ephemeral ?? false,
      createdAt: Date.now(),
      lastConnectedAt: null,
    };
    this.insert.run(record.id, record.socketId, record.accountId, record.name, record.ephemeral ? 1 : 0, record.createdAt);
    return record;
  }

  findById(id: string): TunnelRecord | undefined {
    const row = this.byId.get(id);
    return row && toTunnel(row);
  }

  listByAccount(accountId: string): TunnelRecord[] {
    return this.byAccount.all(accountId).map(toTunnel);
  }

  listBySocket(socketId: string): TunnelRecord[] {
    return this.bySocket.all(socketId).map(toTunnel);
  }

  markConnected(id: string, now = Date.now()): void {
    this.touchStmt.run(now, id);
  }

  delete(id: string): boolean {
    return this.deleteById.run(id).changes > 0;
  }
}
