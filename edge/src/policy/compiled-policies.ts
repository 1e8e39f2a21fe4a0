import { CompiledPolicy, normalizeEmail, type Policy } from '@postern/shared/policy';
import type { Store } from '../store/index.js';
import { accountNow } from '../store/interim-sync.js';
import type { SocketRecord } from '../store/sockets.js';

/** Sockets of one edge are few; past this many compiled policies the cache starts over. */
const MAX_CACHED = 10_000;

/**
 * Each socket's policy compiled once per revision (Pomerium's "built from config once and swapped
 * whole"): the request path only looks up the compiled form.
 */
export class CompiledPolicies {
  private readonly cache = new Map<string, { readonly revision: number; readonly compiled: CompiledPolicy }>();

  constructor(private readonly store: Store) {}

  of(socket: SocketRecord): CompiledPolicy {
    const cached = this.cache.get(socket.id);
    if (cached?.revision === socket.policyRevision) return cached.compiled;
    const compiled = this.compile(socket.policy, socket);
    if (this.cache.size >= MAX_CACHED) this.cache.clear();
    this.cache.set(socket.id, { revision: socket.policyRevision, compiled });
    return compiled;
  }

  /** A policy for this socket that is not stored (what `policy diff` compares with). */
  compile(policy: Policy, socket: SocketRecord): CompiledPolicy {
    const owner = accountNow(this.store, socket.accountId)?.email;
    return new CompiledPolicy(policy, owner ? normalizeEmail(owner) : null);
  }
}
