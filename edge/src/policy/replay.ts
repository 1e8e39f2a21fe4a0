import type { CompiledPolicy, Identity, RequestFacts, Verdict } from '@postern/shared/policy';
import type { AuditEvent } from '../store/audit.js';
import type { OpenStream } from './open-streams.js';

/** One decision as `policy test` prints it. */
export interface Outcome {
  readonly allow: boolean;
  readonly rule: number | null;
  readonly reason: string;
}

export const outcomeOf = (verdict: Verdict): Outcome => ({ allow: verdict.kind === 'allow', rule: verdict.rule, reason: verdict.reason });

/** Accesses of one person to one method and path whose outcome the new policy changes. */
export interface AccessChange {
  /** An email or user id; null for anonymous accesses through a public rule. */
  readonly actor: string | null;
  readonly method: string | null;
  readonly path: string | null;
  /** Audited accesses (each is a (person, method, path) at most once an hour when allowed, a minute when denied). */
  readonly accesses: number;
  readonly last_at: string;
  readonly before: Outcome;
  readonly after: Outcome;
}

export interface StreamCut {
  readonly kind: OpenStream['kind'];
  readonly actor: string | null;
  readonly path: string | null;
  readonly opened_at: string;
  readonly reason: string;
}

export interface PolicyDiff {
  readonly since: string;
  readonly replayed: number;
  /** The audit rows read stopped at the limit: older accesses of the period were not replayed. */
  readonly truncated: boolean;
  readonly people: number;
  readonly unchanged: number;
  readonly lose: readonly AccessChange[];
  readonly gain: readonly AccessChange[];
  readonly streams_cut: readonly StreamCut[];
}

export interface ReplayInput {
  readonly since: number;
  readonly events: readonly AuditEvent[];
  readonly truncated: boolean;
  readonly current: CompiledPolicy;
  readonly next: CompiledPolicy;
  readonly streams: readonly OpenStream[];
  /** Who an audited actor is now (groups and orgs from their last sign-in); null: anonymous. */
  readonly identityOf: (event: AuditEvent) => Identity | null;
  /** Decide every access at this instant instead of at its own time (`--at`). */
  readonly at?: number;
  readonly now: number;
}

const str = (v: unknown): string | null => (typeof v === 'string' ? v : null);

/** The facts an audited access was decided on (rows from before policies had paths have none). */
function factsOf(event: AuditEvent, at: number): RequestFacts {
  const d = event.detail;
  return { path: str(d.path), method: str(d.method), ip: event.remote, at, corsPreflight: d.preflight === true };
}

/**
 * Replays audited accesses through the current and the new policy and lists what would change,
 * grouped by person, method and path; then the open WebSocket/TCP streams the new one would cut.
 * Both policies decide the same facts, so a change of policy earlier in the period does not count.
 */
export function replay(input: ReplayInput): PolicyDiff {
  const changes = new Map<string, { change: AccessChange; direction: 'lose' | 'gain' }>();
  const people = new Set<string>();
  let unchanged = 0;
  let replayed = 0;
  for (const event of input.events) {
    if (event.detail.stream_closed === true) continue; // a cut stream: its opening is replayed already
    replayed++;
    const identity = input.identityOf(event);
    const facts = factsOf(event, input.at ?? event.at);
    const before = outcomeOf(input.current.decide(identity, facts));
    const after = outcomeOf(input.next.decide(identity, facts));
    people.add(event.actor ?? '(anonymous)');
    if (before.allow === after.allow) {
      unchanged++;
      continue;
    }
    const direction = after.allow ? 'gain' : 'lose';
    const key = `${direction}\n${event.actor}\n${facts.method}\n${facts.path}`;
    const seen = changes.get(key);
    const change: AccessChange = {
      actor: event.actor,
      method: facts.method,
      path: facts.path,
      accesses: (seen?.change.accesses ?? 0) + 1,
      last_at: new Date(event.at).toISOString(),
      before,
      after,
    };
    changes.set(key, { change, direction });
  }
  const list = (direction: 'lose' | 'gain') => [...changes.values()].filter((c) => c.direction === direction).map((c) => c.change);
  const streams_cut = input.streams.flatMap((stream): StreamCut[] => {
    const verdict = input.next.decide(stream.identity, { ...stream.facts, at: input.now });
    if (verdict.kind === 'allow') return [];
    return [{ kind: stream.kind, actor: stream.actor, path: stream.facts.path, opened_at: new Date(stream.openedAt).toISOString(), reason: verdict.reason }];
  });
  return {
    since: new Date(input.since).toISOString(),
    replayed,
    truncated: input.truncated,
    people: people.size,
    unchanged,
    lose: list('lose'),
    gain: list('gain'),
    streams_cut,
  };
}
