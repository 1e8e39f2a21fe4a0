import type { Duplex } from 'node:stream';
import type { CompiledPolicy, Identity, RequestFacts, Verdict } from '@postern/shared/policy';
import type { FastifyBaseLogger } from 'fastify';
import type { AuditLog } from '../audit/audit-log.js';
import type { Store } from '../store/index.js';
import type { SocketRecord } from '../store/sockets.js';
import type { CompiledPolicies } from './compiled-policies.js';

/**
 * How often open streams are decided again. A rule that expires (or a time window that ends)
 * closes the streams it let in within this, well inside the 15 s the issue allows.
 */
export const RECHECK_EVERY_MS = 5_000;

/** What a policy decided a stream on: enough to decide it again later, or under another policy. */
export interface StreamGrant {
  readonly socket: SocketRecord;
  readonly identity: Identity | null;
  readonly facts: RequestFacts;
  /** Who, for the audit log and `policy diff`: an email, or a user id. Null for public streams. */
  readonly actor: string | null;
}

export interface OpenStream extends StreamGrant {
  readonly kind: 'websocket' | 'tcp';
  readonly openedAt: number;
}

/**
 * Every open WebSocket and TCP stream with the decision it was let in by. Sign-out, revocation and
 * rule changes close them through LiveConnections; this closes the ones that time alone ends
 * (`expires`, `not_before`, windows), public ones after a rule change, and lists them for
 * `policy diff`.
 */
export class OpenStreams {
  private readonly open = new Map<Duplex, OpenStream>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly policies: CompiledPolicies,
    private readonly store: Store,
    private readonly onCut: (stream: OpenStream, verdict: Verdict) => void,
    everyMs = RECHECK_EVERY_MS,
  ) {
    // A pass that fails (the store away) keeps the streams until the next one.
    this.timer = setInterval(() => void this.recheck().catch(() => undefined), everyMs);
    this.timer.unref();
  }

  track(grant: StreamGrant, kind: OpenStream['kind'], connection: Duplex): void {
    this.open.set(connection, { ...grant, kind, openedAt: Date.now() });
    connection.once('close', () => this.open.delete(connection));
  }

  /** Decides every stream again whose policy changed or depends on time; closes those now refused. */
  async recheck(now = Date.now()): Promise<void> {
    const current = new Map<string, { socket: SocketRecord | undefined; policy: CompiledPolicy | undefined }>();
    for (const id of new Set([...this.open.values()].map((stream) => stream.socket.id))) {
      const socket = await this.store.sockets.findById(id);
      current.set(id, { socket, policy: socket && (await this.policies.of(socket)) });
    }
    for (const [connection, stream] of this.open) {
      const entry = current.get(stream.socket.id);
      if (!entry?.socket || !entry.policy) continue; // deleted: the control plane closes its streams
      if (entry.socket.policyRevision === stream.socket.policyRevision && !entry.policy.timeDependent) continue;
      const verdict = entry.policy.decide(stream.identity, { ...stream.facts, at: now });
      if (verdict.kind === 'allow') continue;
      this.cut(connection, stream, verdict);
    }
  }

  /**
   * Decides these connections (one credential's) again with what the IdP now says about their
   * holder, and keeps deciding them with it; those refused are closed. A connection opened before
   * its policy was followed here is closed too: its client reconnects and is decided afresh.
   */
  async reidentify(connections: readonly Duplex[], identity: Identity, now = Date.now()): Promise<void> {
    for (const connection of connections) {
      const stream = this.open.get(connection);
      if (!stream) {
        connection.destroy();
        continue;
      }
      const socket = await this.store.sockets.findById(stream.socket.id);
      const policy = socket && (await this.policies.of(socket));
      if (!socket || !policy) continue; // deleted: the control plane closes its streams
      const verdict = policy.decide(identity, { ...stream.facts, at: now });
      if (verdict.kind === 'allow') {
        this.open.set(connection, { ...stream, identity });
        continue;
      }
      this.cut(connection, stream, verdict);
    }
  }

  private cut(connection: Duplex, stream: OpenStream, verdict: Verdict): void {
    this.open.delete(connection);
    connection.destroy();
    this.onCut(stream, verdict);
  }

  /** The streams open to a socket now. */
  of(socketId: string): OpenStream[] {
    return [...this.open.values()].filter((s) => s.socket.id === socketId);
  }

  get size(): number {
    return this.open.size;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

/** What a cut leaves behind: one log line and an `access.denied` row with the reason. */
export function reportCuts(audit: AuditLog, log: FastifyBaseLogger): (stream: OpenStream, verdict: Verdict) => void {
  return (stream, verdict) => {
    const { socket, facts } = stream;
    log.info({ socket: socket.id, user: stream.actor, reason: verdict.reason, kind: stream.kind }, 'open stream closed: the policy no longer lets it in');
    audit.record({
      type: 'access.denied',
      accountId: socket.accountId,
      socketId: socket.id,
      actor: stream.actor,
      remote: facts.ip,
      detail: { path: facts.path, method: facts.method, rule: verdict.rule, reason: verdict.reason, via: stream.kind, stream_closed: true },
    });
  };
}
