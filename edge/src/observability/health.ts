import type { ProbeResult } from '@postern/shared';
import type { StoreHealth } from './store-health.js';

/** Liveness and readiness of the edge, for `/healthz` and `/readyz` (public host and metrics listener). */
export class EdgeHealth {
  /** Set first thing on shutdown: load balancers stop sending new work while in-flight requests finish. */
  draining = false;
  /** Whether the lease was ever held: before the cluster starts there is nothing to lose. */
  private registered: boolean;

  constructor(
    private readonly store: Pick<StoreHealth, 'probe'>,
    /** This edge's cluster lease (cluster/edge-lease.ts): whether it is held, and when it first is. */
    private readonly lease: { readonly held: boolean; once(event: 'registered', listener: () => void): unknown },
  ) {
    this.registered = lease.held;
    if (!this.registered) lease.once('registered', () => (this.registered = true));
  }

  live(): ProbeResult {
    return { ok: true };
  }

  /**
   * Three ways not to be ready, told apart: shutting down; the database not answering (requests
   * that need it get 503); or, the database answering, this edge's cluster lease lapsed (the other
   * edges count it gone and route around it until it registers again, within a renewal).
   */
  async ready(): Promise<ProbeResult> {
    if (this.draining) return { ok: false, reason: 'draining: the edge is shutting down' };
    if (!(await this.store.probe())) return { ok: false, reason: 'the database does not answer' };
    if (this.registered && !this.lease.held) return { ok: false, reason: 'cluster lease lost: the other edges count this one as gone until it registers again' };
    return { ok: true };
  }
}
