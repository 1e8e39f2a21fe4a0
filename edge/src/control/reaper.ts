import type { SingletonJob } from '../cluster/singleton-job.js';
import type { Store } from '../store/index.js';
import type { TunnelRegistry } from '../tunnel/registry.js';
import type { ControlPlane } from './control-plane.js';

/** Sweeps at least this often, so a short --quick-share-timeout is honoured closely. */
const MAX_SWEEP_EVERY_MS = 15_000;

/** A quick share is looked at about four times within its timeout (so it goes at most 25% late). */
export const sweepInterval = (timeoutMs: number): number => Math.min(MAX_SWEEP_EVERY_MS, Math.max(250, Math.floor(timeoutMs / 4)));

/**
 * Cleans up after connectors that ended without saying goodbye (kill -9, a lost machine): a quick
 * share without a connector anywhere in the cluster for `timeoutMs` is deleted. It runs as a
 * singleton job (one edge sweeps at a time) on the cluster's presence, so a share served by another
 * edge's connector stays. A clean exit deletes its quick share at once; a token that ended takes its
 * tunnels and their quick shares with it (auth/tunnel-credentials.ts).
 */
export class QuickShareReaper {
  /** Quick shares seen without a connector, since when (ms). */
  private readonly offlineSince = new Map<string, number>();
  private readonly job: SingletonJob;

  constructor(
    private readonly store: Store,
    private readonly registry: TunnelRegistry,
    private readonly control: ControlPlane,
    readonly timeoutMs: number,
    onError: (err: unknown) => void = () => undefined,
  ) {
    this.job = store.cluster.job('quick-share-reaper', sweepInterval(timeoutMs), () => this.sweep(), onError);
  }

  async sweep(now = Date.now()): Promise<void> {
    const served = new Set((await this.store.cluster.presence.liveConnections()).map((conn) => conn.socketId));
    const seen = new Set<string>();
    for (const socket of await this.store.sockets.listEphemeral()) {
      seen.add(socket.id);
      if (served.has(socket.id) || this.registry.connections(socket.id).length > 0) {
        this.offlineSince.delete(socket.id);
        continue;
      }
      const since = this.offlineSince.get(socket.id) ?? now;
      this.offlineSince.set(socket.id, since);
      if (now - since >= this.timeoutMs) {
        this.offlineSince.delete(socket.id);
        await this.control.delete(socket, { email: 'edge', remote: null }, 'quick share left without a connector');
      }
    }
    for (const id of this.offlineSince.keys()) if (!seen.has(id)) this.offlineSince.delete(id);
  }

  /** When the edge will remove this quick share, if it has no connector now (ms since the epoch; known on the edge that sweeps). */
  removalAt(socketId: string): number | undefined {
    const since = this.offlineSince.get(socketId);
    return since === undefined || this.registry.connections(socketId).length > 0 ? undefined : since + this.timeoutMs;
  }

  stop(): Promise<void> {
    return this.job.stop();
  }
}
