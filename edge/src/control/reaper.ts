import type { Store } from '../store/index.js';
import type { TunnelRegistry } from '../tunnel/registry.js';
import type { ControlPlane } from './control-plane.js';

/** How often the reaper looks; a quick share is removed after two looks without a connector. */
export const REAP_EVERY_MS = 5 * 60_000;

/**
 * Removes quick-share sockets whose `connect` died without saying goodbye (kill -9, power loss):
 * one with no connector at two consecutive sweeps is deleted. A clean exit deletes it at once.
 */
export class EphemeralReaper {
  private offlineLastTime = new Set<string>();
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly store: Store,
    private readonly registry: TunnelRegistry,
    private readonly control: ControlPlane,
    everyMs = REAP_EVERY_MS,
  ) {
    this.timer = setInterval(() => this.sweep(), everyMs);
    this.timer.unref();
  }

  sweep(): void {
    const offlineNow = new Set<string>();
    for (const socket of this.store.sockets.listEphemeral()) {
      if (this.registry.connections(socket.id).length > 0) continue;
      if (this.offlineLastTime.has(socket.id)) this.control.delete(socket, { email: 'edge', remote: null }, 'quick share left without a connector');
      else offlineNow.add(socket.id);
    }
    this.offlineLastTime = offlineNow;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
