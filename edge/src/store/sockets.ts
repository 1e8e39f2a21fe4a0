import { PUBLIC_POLICY, type Policy } from '@postern/shared/policy';
import type { Db } from './db.js';
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

interface SocketRow {
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
}

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

export class SocketStore {
  private readonly insert;
  private readonly byId;
  private readonly byHostname;
  private readonly byAccount;
  private readonly deleteById;
  private readonly updateStmt;
  private readonly allStmt;
  private readonly ephemeralStmt;

  constructor(db: Db) {
    this.insert = db.prepare(
      `INSERT INTO sockets (id, account_id, name, hostname, protocol, policy, policy_revision, identity_headers,
         max_body_bytes, allow_cross_origin_requests, ephemeral, created_at)
       VALUES (@id, @account_id, @name, @hostname, @protocol, @policy, @policy_revision, @identity_headers,
         @max_body_bytes, @allow_cross_origin_requests, @ephemeral, @created_at)`,
    );
    this.byId = db.prepare<[string], SocketRow>('SELECT * FROM sockets WHERE id = ?');
    this.byHostname = db.prepare<[string], SocketRow>('SELECT * FROM sockets WHERE hostname = ?');
    this.byAccount = db.prepare<[string], SocketRow>('SELECT * FROM sockets WHERE account_id = ? ORDER BY created_at');
    this.allStmt = db.prepare<[], SocketRow>('SELECT * FROM sockets ORDER BY created_at');
    this.ephemeralStmt = db.prepare<[], SocketRow>('SELECT * FROM sockets WHERE ephemeral = 1');
    this.deleteById = db.prepare<[string]>('DELETE FROM sockets WHERE id = ?');
    this.updateStmt = db.prepare(
      `UPDATE sockets SET name = @name, policy = @policy, policy_revision = @policy_revision, identity_headers = @identity_headers,
         max_body_bytes = @max_body_bytes, allow_cross_origin_requests = @allow_cross_origin_requests
       WHERE id = @id`,
    );
  }

  /**
   * Creates a socket. Permanent sockets get `<stem>-<short account id>`, the same every time, so
   * an account has one socket per stem (LabelTakenError otherwise); quick shares get a random suffix.
   */
  create(input: NewSocket): SocketRecord {
    const stem = labelStem(input.name);
    const candidates = input.ephemeral
      ? Array.from({ length: 8 }, (_, attempt) => `${stem}-${randomId(4 + attempt)}`)
      : [`${stem}-${accountSuffix(input.accountId)}`, `${stem}-${accountSuffix(input.accountId, true)}`];
    for (const hostname of candidates) {
      const holder = this.byHostname.get(hostname);
      if (holder?.account_id === input.accountId && !input.ephemeral) throw new LabelTakenError(toSocket(holder));
      if (holder) continue; // another account's short id shares the prefix: the long suffix is unique
      const record: SocketRecord = { ...SOCKET_DEFAULTS, ...input, id: `sck_${randomId(12)}`, hostname, policyRevision: 1, createdAt: Date.now() };
      this.insert.run(toRow(record));
      return record;
    }
    throw new Error('could not find a free hostname');
  }

  /** Replaces the given fields (never the hostname, protocol or owner); returns the new record. */
  update(id: string, patch: SocketPatch): SocketRecord | undefined {
    const current = this.findById(id);
    if (!current) return undefined;
    const policyChanged = patch.policy !== undefined && JSON.stringify(patch.policy) !== JSON.stringify(current.policy);
    const next: SocketRecord = { ...current, ...patch, policyRevision: current.policyRevision + (policyChanged ? 1 : 0) };
    this.updateStmt.run(toRow(next));
    return next;
  }

  findById(id: string): SocketRecord | undefined {
    const row = this.byId.get(id);
    return row && toSocket(row);
  }

  findByHostname(hostname: string): SocketRecord | undefined {
    const row = this.byHostname.get(hostname);
    return row && toSocket(row);
  }

  listByAccount(accountId: string): SocketRecord[] {
    return this.byAccount.all(accountId).map(toSocket);
  }

  /** Every socket of the edge (the portal filters by policy). */
  all(): SocketRecord[] {
    return this.allStmt.all().map(toSocket);
  }

  listEphemeral(): SocketRecord[] {
    return this.ephemeralStmt.all().map(toSocket);
  }

  delete(id: string): boolean {
    return this.deleteById.run(id).changes > 0;
  }
}
