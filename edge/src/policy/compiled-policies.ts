import { CompiledPolicy, normalizeEmail, type Policy } from '@postern/shared/policy';
import type { Store } from '../store/index.js';
import type { Maybe } from '../store/read-cache.js';
import type { SocketRecord } from '../store/sockets.js';

/** Sockets of one edge are few; past this many compiled policies the cache starts over. */
const MAX_CACHED = 10_000;

/**
 * Each socket's policy compiled once per revision (Pomerium's "built from config once and swapped
 * whole"): the request path only looks up the compiled form, synchronously once it is compiled (the
 * owner's email, which the policy's owner rule needs, is read once per revision).
 */
export class CompiledPolicies {
  private readonly cache = new Map<string, { readonly revision: number; readonly compiled: CompiledPolicy }>();

  constructor(private readonly store: Store) {}

  of(socket: SocketRecord): Maybe<CompiledPolicy> {
    const cached = this.cache.get(socket.id);
    if (cached?.revision === socket.policyRevision) return cached.compiled;
    // Keyed by revision: a compile that finishes after a change only ever serves its own revision.
    return this.compile(socket.policy, socket).then((compiled) => {
      if (this.cache.size >= MAX_CACHED) this.cache.clear();
      this.cache.set(socket.id, { revision: socket.policyRevision, compiled });
      return compiled;
    });
  }

  /** The socket changed or went (a `socket` change): the compiled form is dropped with it. */
  forget(socketId: string): void {
    this.cache.delete(socketId);
  }

  clear(): void {
    this.cache.clear();
  }

  /** A policy for this socket that is not stored (what `policy diff` compares with). */
  async compile(policy: Policy, socket: SocketRecord): Promise<CompiledPolicy> {
    const owner = (await this.store.accounts.findById(socket.accountId))?.email;
    return new CompiledPolicy(policy, owner ? normalizeEmail(owner) : null);
  }
}
