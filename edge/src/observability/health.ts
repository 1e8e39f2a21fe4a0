import type { ProbeResult } from '@postern/shared';
import type { Store } from '../store/index.js';

/** Liveness and readiness of the edge, for `/healthz` and `/readyz` (public host and metrics listener). */
export class EdgeHealth {
  /** Set first thing on shutdown: load balancers stop sending new work while in-flight requests finish. */
  draining = false;

  constructor(private readonly store: Store) {}

  live(): ProbeResult {
    return { ok: true };
  }

  async ready(): Promise<ProbeResult> {
    if (this.draining) return { ok: false, reason: 'draining: the edge is shutting down' };
    if (!(await this.store.ping())) return { ok: false, reason: 'the database does not answer' };
    return { ok: true };
  }
}
