import { PUBLIC_POLICY, type Policy } from '@postern/shared/policy';
import type { ChangeFeed } from '../cluster/change-feed.js';
import type { SqlDriver } from './sql/driver.js';
import { randomId } from './ids.js';
import { accountSuffix, labelStem } from './labels.js';

export type SocketProtocol = 'http' | 'tcp';

export interface IdentityHeaderNames {
  readonly email?: string;
  readonly user?: string;
}

/** A published name and who may reach it. Records are replaced on update, never mutated. */
export interface SocketRecord {
  readonly id: string;
  readonly accountId: string;
  readonly name: string;
  /** The DNS label under the edge domain, e.g. `grafana-x1y2`. */
  readonly hostname: string;
  readonly protocol: SocketProtocol;
  /** Who may reach it: one normalised datum (@postern/shared/policy). */
  readonly policy: Policy;
  /** Goes up by one whenever the policy changes: the edge compiles each revision once. */
  readonly policyRevision: number;
  /** Header names the app receives the identity in (defaults: X-Auth-Email, X-Auth-User). */
  readonly identityHeaders: IdentityHeaderNames;
  /** Largest request body the app accepts; null means the edge's default. */
  readonly maxBodyBytes: number | null;
  /**
   * Cookie-authenticated POST/PUT/PATCH/DELETE from other origins reach the app (off by default:
   * the edge refuses them as cross-socket request forgery; see auth/origin-check.ts).
   */
  readonly allowCrossOriginRequests: boolean;
  /** Created by a quick `connect`, removed when it exits. */
  readonly ephemeral: boolean;
  readonly createdAt: number;
}

type SocketRow = {
  id: string;
  account_id: string;
  name: string;
  hostname: string;
  protocol: SocketProtocol;
  policy: string;
  policy_revision: number;
  identity_headers: string;
  max_body_bytes: number | null;
  allow_cross_origin_requests: number;
  ephemeral: number;
  created_at: number;
};

const toSocket = (row: SocketRow): SocketRecord => ({
  id: row.id,
  accountId: row.account_id,
  name: row.name,
  hostname: row.hostname,
  protocol: row.protocol,
  // Written only by the normaliser (api/sockets.ts), so read as it is.
  policy: JSON.parse(row.policy) as Policy,
  policyRevision: row.policy_revision,
  identityHeaders: JSON.parse(row.identity_headers) as IdentityHeaderNames,
  maxBodyBytes: row.max_body_bytes,
  allowCrossOriginRequests: row.allow_cross_origin_requests === 1,
  ephemeral: row.ephemeral === 1,
  createdAt: row.created_at,
});

/** What a new socket needs: an owner and a name; everything else defaults to an open HTTP socket. */
export type NewSocket = Pick<SocketRecord, 'accountId' | 'name'> & Partial<Omit<SocketRecord, 'id' | 'hostname' | 'createdAt' | 'policyRevision'>>;

const SOCKET_DEFAULTS = {
  protocol: 'http',
  policy: PUBLIC_POLICY,
  identityHeaders: {},
  maxBodyBytes: null,
  allowCrossOriginRequests: false,
  ephemeral: false,
} as const satisfies Omit<SocketRecord, 'id' | 'hostname' | 'createdAt' | 'accountId' | 'name' | 'policyRevision'>;

/** What `socket update` may change. The hostname is fixed at creation: links and DNS keep working. */
export type SocketPatch = Partial<Pick<SocketRecord, 'name' | 'policy' | 'identityHeaders' | 'maxBodyBytes' | 'allowCrossOriginRequests'>>;

/** The account already has a permanent socket with this hostname. */
export class LabelTakenError extends Error {
  override readonly name = 'LabelTakenError';
  constructor(readonly holder: SocketRecord) {
    super(`you already have a socket at ${holder.hostname} ("${holder.name}", ${holder.id})`);
  }
}

const toRow = (record: SocketRecord): SocketRow => ({
  id: record.id,
  account_id: record.accountId,
  name: record.name,
  hostname: record.hostname,
  protocol: record.protocol,
  policy: JSON.stringify(record.policy),
  policy_revision: record.policyRevision,
  identity_headers: JSON.stringify(record.identityHeaders),
  max_body_bytes: record.maxBodyBytes,
  allow_cross_origin_requests: record.allowCrossOriginRequests ? 1 : 0,
  ephemeral: record.ephemeral ? 1 : 0,
  created_at: record.createdAt,
});

const COLUMNS = 'id, account_id, name, hostname, protocol, policy, policy_revision, identity_headers, max_body_bytes, allow_cross_origin_requests, ephemeral, created_at';

const insertParams = (r: SocketRow) => [
  r.id, r.account_id, r.name, r.hostname, r.protocol, r.policy, r.policy_revision, r.identity_headers, r.max_body_bytes, r.allow_cross_origin_requests, r.ephemeral, r.created_at,
];

export class SocketStore {
  constructor(
    private readonly db: SqlDriver,
    private readonly changes: ChangeFeed,
  ) {}

  /**
   * Creates a socket. Permanent sockets get `<stem>-<short account id>`, the same every time, so
   * an account has one socket per stem (LabelTakenError otherwise); quick shares get a random suffix.
   * Each candidate is claimed by the insert itself: two edges creating one name make one socket.
   */
  async create(input: NewSocket): Promise<SocketRecord> {
    const stem = labelStem(input.name);
    const candidates = input.ephemeral
      ? Array.from({ length: 8 }, (_, attempt) => `${stem}-${randomId(4 + attempt)}`)
      : [`${stem}-${accountSuffix(input.accountId)}`, `${stem}-${accountSuffix(input.accountId, true)}`];
    for (const hostname of candidates) {
      const record: SocketRecord = { ...SOCKET_DEFAULTS, ...input, id: `sck_${randomId(12)}`, hostname, policyRevision: 1, createdAt: Date.now() };
      const made = await this.db.one(
        `INSERT INTO sockets (${COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (hostname) DO NOTHING RETURNING id`,
        insertParams(toRow(record)),
      );
      if (made) return record;
      const holder = await this.findByHostname(hostname);
      if (holder?.accountId === input.accountId && !input.ephemeral) throw new LabelTakenError(holder);
      // Otherwise another account's short id shares the prefix: the long suffix is unique.
    }
    throw new Error('could not find a free hostname');
  }

  /** Replaces the given fields (never the hostname, protocol or owner) and tells every edge; returns the new record. */
  update(id: string, patch: SocketPatch): Promise<SocketRecord | undefined> {
    return this.db.transaction(async (tx) => {
      const row = await tx.one<SocketRow>('SELECT * FROM sockets WHERE id = ?', [id]);
      if (!row) return undefined;
      const current = toSocket(row);
      const policyChanged = patch.policy !== undefined && JSON.stringify(patch.policy) !== JSON.stringify(current.policy);
      const next = toRow({ ...current, ...patch, policyRevision: current.policyRevision + (policyChanged ? 1 : 0) });
      await tx.exec(
        `UPDATE sockets SET name = ?, policy = ?, policy_revision = ?, identity_headers = ?, max_body_bytes = ?, allow_cross_origin_requests = ? WHERE id = ?`,
        [next.name, next.policy, next.policy_revision, next.identity_headers, next.max_body_bytes, next.allow_cross_origin_requests, id],
      );
      await this.changes.publish(tx, { topic: 'socket', key: id });
      return toSocket(next);
    });
  }

  async findById(id: string): Promise<SocketRecord | undefined> {
    const row = await this.db.one<SocketRow>('SELECT * FROM sockets WHERE id = ?', [id]);
    return row && toSocket(row);
  }

  async findByHostname(hostname: string): Promise<SocketRecord | undefined> {
    const row = await this.db.one<SocketRow>('SELECT * FROM sockets WHERE hostname = ?', [hostname]);
    return row && toSocket(row);
  }

  async listByAccount(accountId: string): Promise<SocketRecord[]> {
    return (await this.db.query<SocketRow>('SELECT * FROM sockets WHERE account_id = ? ORDER BY created_at', [accountId])).map(toSocket);
  }

  /** Every socket of the edge (the portal filters by policy). */
  async all(): Promise<SocketRecord[]> {
    return (await this.db.query<SocketRow>('SELECT * FROM sockets ORDER BY created_at')).map(toSocket);
  }

  async listEphemeral(): Promise<SocketRecord[]> {
    return (await this.db.query<SocketRow>('SELECT * FROM sockets WHERE ephemeral = 1')).map(toSocket);
  }

  /** Deletes a socket and tells every edge (its tunnels and streams close); false if there was none. */
  delete(id: string): Promise<boolean> {
    return this.db.transaction(async (tx) => {
      if ((await tx.exec('DELETE FROM sockets WHERE id = ?', [id])) === 0) return false;
      await this.changes.publish(tx, { topic: 'socket', key: id });
      return true;
    });
  }
}
