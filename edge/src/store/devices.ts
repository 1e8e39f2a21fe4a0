import { randomInt } from 'node:crypto';
import { hashHandle } from './secrets.js';
import type { SqlDriver } from './sql/driver.js';

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

type DeviceRow = {
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
};

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
  constructor(private readonly db: SqlDriver) {}

  /** Starts an authorization; the device code (secret, held by the CLI) is stored hashed. */
  async create(deviceCode: string, input: { clientName: string; remote: string | null; ttlMs: number }, now = Date.now()): Promise<DeviceAuthorization> {
    for (let attempt = 0; attempt < 10; attempt++) {
      // A user code already taken (20^8 of them) makes the insert do nothing: draw again.
      const row = await this.db.one<DeviceRow>(
        `INSERT INTO device_authorizations (device_hash, user_code, client_name, remote, created_at, expires_at)
         VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING *`,
        [hashHandle(deviceCode), newUserCode(), input.clientName, input.remote, now, now + input.ttlMs],
      );
      if (row) return toDevice(row);
    }
    throw new Error('could not find a free user code');
  }

  async findByDeviceCode(deviceCode: string): Promise<DeviceAuthorization | undefined> {
    const row = await this.db.one<DeviceRow>('SELECT * FROM device_authorizations WHERE device_hash = ?', [hashHandle(deviceCode)]);
    return row && toDevice(row);
  }

  async findByUserCode(userCode: string): Promise<DeviceAuthorization | undefined> {
    const row = await this.db.one<DeviceRow>('SELECT * FROM device_authorizations WHERE user_code = ?', [userCode]);
    return row && toDevice(row);
  }

  /** Records the person's answer to a pending, unexpired authorization; undefined if there was none. */
  async answer(
    userCode: string,
    decision: { status: 'approved'; userId: string; accountId: string } | { status: 'denied' },
    now = Date.now(),
  ): Promise<DeviceAuthorization | undefined> {
    const approved = decision.status === 'approved';
    const row = await this.db.one<DeviceRow>(
      "UPDATE device_authorizations SET status = ?, user_id = ?, account_id = ? WHERE user_code = ? AND status = 'pending' AND expires_at > ? RETURNING *",
      [decision.status, approved ? decision.userId : null, approved ? decision.accountId : null, userCode, now],
    );
    return row && toDevice(row);
  }

  /**
   * Takes an authorization that is answered or expired, deleting it: one statement, so of two polls
   * at once exactly one gets an approval (and mints the token). Undefined while it is pending.
   */
  async settle(deviceCode: string, now = Date.now()): Promise<DeviceAuthorization | undefined> {
    const row = await this.db.one<DeviceRow>("DELETE FROM device_authorizations WHERE device_hash = ? AND (status <> 'pending' OR expires_at <= ?) RETURNING *", [
      hashHandle(deviceCode),
      now,
    ]);
    return row && toDevice(row);
  }

  async recordPoll(deviceHash: string, now = Date.now()): Promise<void> {
    await this.db.exec('UPDATE device_authorizations SET last_poll_at = ? WHERE device_hash = ?', [now, deviceHash]);
  }
}
