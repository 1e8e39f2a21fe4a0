import type { Db } from './db.js';

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

interface AuditRow {
  id: number;
  at: number;
  type: AuditType;
  account_id: string | null;
  socket_id: string | null;
  actor: string | null;
  remote: string | null;
  detail: string;
}

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

/** Append-only event log. Socket ids are kept without a foreign key: the log outlives deleted sockets. */
export class AuditStore {
  private readonly insert;
  private readonly query;
  private readonly prune;
  private readonly accesses;

  constructor(db: Db) {
    this.insert = db.prepare(
      `INSERT INTO audit_events (at, type, account_id, socket_id, actor, remote, detail)
       VALUES (@at, @type, @account_id, @socket_id, @actor, @remote, @detail)`,
    );
    // Newest first; an account reads the events about its own resources.
    this.query = db.prepare<{ account_id: string; socket_id: string | null; since: number; limit: number }, AuditRow>(
      `SELECT * FROM audit_events
       WHERE account_id = @account_id AND (@socket_id IS NULL OR socket_id = @socket_id) AND at >= @since
       ORDER BY at DESC, id DESC LIMIT @limit`,
    );
    this.prune = db.prepare<[number]>('DELETE FROM audit_events WHERE at < ?');
    this.accesses = db.prepare<[string, number, number], AuditRow>(
      `SELECT * FROM audit_events WHERE socket_id = ? AND at >= ? AND type IN ('access.allowed', 'access.denied') ORDER BY at, id LIMIT ?`,
    );
  }

  append(event: NewAuditEvent): void {
    this.insert.run({
      at: event.at ?? Date.now(),
      type: event.type,
      account_id: event.accountId ?? null,
      socket_id: event.socketId ?? null,
      actor: event.actor ?? null,
      remote: event.remote ?? null,
      detail: JSON.stringify(event.detail ?? {}),
    });
  }

  list(q: AuditQuery): AuditEvent[] {
    return this.query.all({ account_id: q.accountId, socket_id: q.socketId ?? null, since: q.since ?? 0, limit: q.limit }).map(toEvent);
  }

  /** A socket's audited accesses (allowed and denied) since `since`, oldest first: what `policy diff` replays. */
  accessesOf(socketId: string, since: number, limit: number): AuditEvent[] {
    return this.accesses.all(socketId, since, limit).map(toEvent);
  }

  /** Deletes events older than `before`; returns how many. */
  pruneBefore(before: number): number {
    return this.prune.run(before).changes;
  }
}
