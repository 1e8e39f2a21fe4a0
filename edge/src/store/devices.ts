import { randomInt } from 'node:crypto';
import type { Db } from './db.js';
import { hashHandle } from './secrets.js';

/** A CLI waiting for a person to approve its sign-in in a browser (RFC 8628 device authorization). */
export interface DeviceAuthorization {
  readonly deviceHash: string;
  readonly userCode: string;
  readonly clientName: string;
  readonly remote: string | null;
  readonly createdAt: number;
  readonly expiresAt: number;
  readonly lastPollAt: number | null;
  readonly status: 'pending' | 'approved' | 'denied';
  readonly userId: string | null;
  readonly accountId: string | null;
}

interface DeviceRow {
  device_hash: string;
  user_code: string;
  client_name: string;
  remote: string | null;
  created_at: number;
  expires_at: number;
  last_poll_at: number | null;
  status: DeviceAuthorization['status'];
  user_id: string | null;
  account_id: string | null;
}

const toDevice = (row: DeviceRow): DeviceAuthorization => ({
  deviceHash: row.device_hash,
  userCode: row.user_code,
  clientName: row.client_name,
  remote: row.remote,
  createdAt: row.created_at,
  expiresAt: row.expires_at,
  lastPollAt: row.last_poll_at,
  status: row.status,
  userId: row.user_id,
  accountId: row.account_id,
});

/** Consonants only (RFC 8628 §6.1): no vowels means no words, no 0/O or 1/I confusion. 20^8 ≈ 2.6e10. */
const USER_CODE_ALPHABET = 'BCDFGHJKLMNPQRSTVWXZ';

function newUserCode(): string {
  let code = '';
  for (let i = 0; i < 8; i++) code += USER_CODE_ALPHABET[randomInt(USER_CODE_ALPHABET.length)];
  return `${code.slice(0, 4)}-${code.slice(4)}`;
}

/** Accepts `bcdf ghjk`, `BCDFGHJK`, `BCDF-GHJK`: people retype codes loosely. */
export function normalizeUserCode(input: string): string | undefined {
  const letters = input.toUpperCase().replace(/[\s-]/g, '');
  if (letters.length !== 8 || [...letters].some((c) => !USER_CODE_ALPHABET.includes(c))) return undefined;
  return `${letters.slice(0, 4)}-${letters.slice(4)}`;
}

export class DeviceStore {
  private readonly insert;
  private readonly byHash;
  private readonly byCode;
  private readonly decide;
  private readonly poll;
  private readonly deleteStmt;
  private readonly prune;

  constructor(db: Db) {
    this.insert = db.prepare(
      `INSERT INTO device_authorizations (device_hash, user_code, client_name, remote, created_at, expires_at)
       VALUES (@device_hash, @user_code, @client_name, @remote, @created_at, @expires_at)`,
    );
    this.byHash = db.prepare<[string], DeviceRow>('SELECT * FROM device_authorizations WHERE device_hash = ?');
    this.byCode = db.prepare<[string], DeviceRow>('SELECT * FROM device_authorizations WHERE user_code = ?');
    this.decide = db.prepare<[DeviceAuthorization['status'], string | null, string | null, string]>(
      "UPDATE device_authorizations SET status = ?, user_id = ?, account_id = ? WHERE user_code = ? AND status = 'pending'",
    );
    this.poll = db.prepare<[number, string]>('UPDATE device_authorizations SET last_poll_at = ? WHERE device_hash = ?');
    this.deleteStmt = db.prepare<[string]>('DELETE FROM device_authorizations WHERE device_hash = ?');
    this.prune = db.prepare<[number]>('DELETE FROM device_authorizations WHERE expires_at < ?');
  }

  /** Starts an authorization; the device code (secret, held by the CLI) is stored hashed. */
  create(deviceCode: string, input: { clientName: string; remote: string | null; ttlMs: number }, now = Date.now()): DeviceAuthorization {
    this.prune.run(now);
    for (let attempt = 0; ; attempt++) {
      const userCode = newUserCode();
      if (this.byCode.get(userCode)) {
        if (attempt > 8) throw new Error('could not find a free user code');
        continue;
      }
      const row: DeviceRow = {
        device_hash: hashHandle(deviceCode),
        user_code: userCode,
        client_name: input.clientName,
        remote: input.remote,
        created_at: now,
        expires_at: now + input.ttlMs,
        last_poll_at: null,
        status: 'pending',
        user_id: null,
        account_id: null,
      };
      this.insert.run(row);
      return toDevice(row);
    }
  }

  findByDeviceCode(deviceCode: string): DeviceAuthorization | undefined {
    const row = this.byHash.get(hashHandle(deviceCode));
    return row && toDevice(row);
  }

  findByUserCode(userCode: string): DeviceAuthorization | undefined {
    const row = this.byCode.get(userCode);
    return row && toDevice(row);
  }

  /** Records the person's answer; false if it was already answered. */
  answer(userCode: string, decision: { status: 'approved'; userId: string; accountId: string } | { status: 'denied' }): boolean {
    const approved = decision.status === 'approved';
    return this.decide.run(decision.status, approved ? decision.userId : null, approved ? decision.accountId : null, userCode).changes > 0;
  }

  recordPoll(deviceHash: string, now = Date.now()): void {
    this.poll.run(now, deviceHash);
  }

  /** The authorization is done with (token issued, or denied and reported): it cannot be used again. */
  delete(deviceHash: string): void {
    this.deleteStmt.run(deviceHash);
  }
}
