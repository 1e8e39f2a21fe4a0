import type { SqlDriver, SqlValue } from './sql/driver.js';

/** Every kind of event the audit log records. */
export type AuditType =
  | 'signin'
  | 'signin.failed'
  | 'signout'
  | 'access.denied'
  | 'access.allowed'
  | 'socket.create'
  | 'socket.update'
  | 'socket.delete'
  | 'tunnel.create'
  | 'tunnel.delete'
  | 'tunnel.connect'
  | 'tunnel.disconnect'
  | 'token.create'
  | 'token.revoke'
  | 'device.approve'
  | 'device.deny'
  | 'handoff.consent'
  | 'handoff.revoke'
  | 'stream.open'
  | 'stream.close'
  | 'signin.notice'
  | 'session.changed'
  | 'session.ended';

export interface AuditEvent {
  readonly id: number;
  readonly at: number;
  readonly type: AuditType;
  /** The account the event concerns (a socket's owner, a token's holder): who may read it. */
  readonly accountId: string | null;
  readonly socketId: string | null;
  /** Who acted: an email, or a user/account id when there is no email. */
  readonly actor: string | null;
  readonly remote: string | null;
  readonly detail: Readonly<Record<string, unknown>>;
}

export type NewAuditEvent = Omit<AuditEvent, 'id' | 'at' | 'accountId' | 'socketId' | 'actor' | 'remote' | 'detail'> &
  Partial<Pick<AuditEvent, 'at' | 'accountId' | 'socketId' | 'actor' | 'remote' | 'detail'>>;

export interface AuditQuery {
  readonly accountId: string;
  readonly socketId?: string;
  readonly since?: number;
  readonly limit: number;
}

type AuditRow = {
  id: number;
  at: number;
  type: AuditType;
  account_id: string | null;
  socket_id: string | null;
  actor: string | null;
  remote: string | null;
  detail: string;
};

const toEvent = (row: AuditRow): AuditEvent => ({
  id: row.id,
  at: row.at,
  type: row.type,
  accountId: row.account_id,
  socketId: row.socket_id,
  actor: row.actor,
  remote: row.remote,
  detail: JSON.parse(row.detail) as Record<string, unknown>,
});

/** Columns of one event as inserted, in the order of INSERT_COLUMNS. */
const eventValues = (event: NewAuditEvent, now: number): SqlValue[] => [
  event.at ?? now,
  event.type,
  event.accountId ?? null,
  event.socketId ?? null,
  event.actor ?? null,
  event.remote ?? null,
  JSON.stringify(event.detail ?? {}),
];

const INSERT_COLUMNS = 'INSERT INTO audit_events (at, type, account_id, socket_id, actor, remote, detail) VALUES ';
const ROW_PLACEHOLDERS = '(?, ?, ?, ?, ?, ?, ?)';

/** Rows per INSERT: 100 × 7 parameters, far below both engines' limits. */
export const AUDIT_BATCH_MAX = 100;

/** Append-only event log. Socket ids are kept without a foreign key: the log outlives deleted sockets. */
export class AuditStore {
  constructor(private readonly db: SqlDriver) {}

  /** Appends events (at most AUDIT_BATCH_MAX) in one statement, in order. */
  async append(...events: NewAuditEvent[]): Promise<void> {
    if (events.length === 0) return;
    if (events.length > AUDIT_BATCH_MAX) throw new Error(`at most ${AUDIT_BATCH_MAX} audit events per statement`);
    const now = Date.now();
    await this.db.exec(INSERT_COLUMNS + events.map(() => ROW_PLACEHOLDERS).join(', '), events.flatMap((event) => eventValues(event, now)));
  }

  /** Newest first; an account reads the events about its own resources. */
  async list(q: AuditQuery): Promise<AuditEvent[]> {
    const socketId = q.socketId ?? null;
    const rows = await this.db.query<AuditRow>(
      `SELECT * FROM audit_events
       WHERE account_id = ? AND (CAST(? AS TEXT) IS NULL OR socket_id = ?) AND at >= ?
       ORDER BY at DESC, id DESC LIMIT ?`,
      [q.accountId, socketId, socketId, q.since ?? 0, q.limit],
    );
    return rows.map(toEvent);
  }

  /** A socket's audited accesses (allowed and denied) since `since`, oldest first: what `policy diff` replays. */
  async accessesOf(socketId: string, since: number, limit: number): Promise<AuditEvent[]> {
    const rows = await this.db.query<AuditRow>(
      `SELECT * FROM audit_events WHERE socket_id = ? AND at >= ? AND type IN ('access.allowed', 'access.denied') ORDER BY at, id LIMIT ?`,
      [socketId, since, limit],
    );
    return rows.map(toEvent);
  }

  /** Deletes events older than `before`; returns how many. */
  pruneBefore(before: number): Promise<number> {
    return this.db.exec('DELETE FROM audit_events WHERE at < ?', [before]);
  }
}
