import type { EdgeConfig } from '../config.js';
import type { SocketRecord } from '../store/sockets.js';
import type { Store } from '../store/index.js';

export type Route =
  | { readonly kind: 'edge' }
  | { readonly kind: 'socket'; readonly socket: SocketRecord; readonly host: string }
  | { readonly kind: 'unknown'; readonly host: string };

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const NEGATIVE_TTL_MS = 2_000;

/**
 * Maps a Host header to the edge itself or to one socket. Sockets are cached (the edge is the
 * only writer of sockets; deletes call forget()); misses are cached briefly so a flood of unknown
 * hosts does not hit SQLite on every request.
 */
export class HostRouter {
  private readonly suffix: string;
  private readonly cache = new Map<string, SocketRecord | number>();

  constructor(
    private readonly config: EdgeConfig,
    private readonly store: Store,
  ) {
    this.suffix = `.${config.domain}`;
  }

  route(hostHeader: string | undefined): Route {
    const host = (hostHeader ?? '').toLowerCase();
    if (host === this.config.domain) return { kind: 'edge' };
    if (!host.endsWith(this.suffix)) return { kind: 'unknown', host };
    const label = host.slice(0, -this.suffix.length);
    if (!LABEL.test(label)) return { kind: 'unknown', host };
    const socket = this.lookup(label);
    return socket ? { kind: 'socket', socket, host } : { kind: 'unknown', host };
  }

  forget(label: string): void {
    this.cache.delete(label);
  }

  private lookup(label: string): SocketRecord | undefined {
    const cached = this.cache.get(label);
    if (typeof cached === 'object') return cached;
    if (typeof cached === 'number' && cached > Date.now()) return undefined;
    const socket = this.store.sockets.findByHostname(label);
    if (this.cache.size > 10_000) this.cache.clear();
    this.cache.set(label, socket ?? Date.now() + NEGATIVE_TTL_MS);
    return socket;
  }
}
