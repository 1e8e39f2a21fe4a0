import type { EdgeConfig } from '../config.js';
import { ReadCache, andThen, type Maybe } from '../store/read-cache.js';
import type { SocketRecord } from '../store/sockets.js';
import type { Store } from '../store/index.js';

export type Route =
  | { readonly kind: 'edge' }
  | { readonly kind: 'socket'; readonly socket: SocketRecord; readonly host: string }
  | { readonly kind: 'unknown'; readonly host: string };

const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/** A name with no socket is asked again this soon: one just created elsewhere appears within it. */
const NEGATIVE_TTL_MS = 2_000;
/** The feed evicts a changed socket on every edge; this bounds what a lost change costs. */
const TTL_MS = 5 * 60_000;
const MAX_ENTRIES = 10_000;

/**
 * Maps a Host header to the edge itself or to one socket. Sockets are cached by label (a hit
 * answers synchronously, a miss reads the store once however many requests wait for it) and
 * evicted when the change feed names them (`forgetSocket`); unknown names are cached briefly so a
 * flood of them does not reach the database on every request.
 */
export class HostRouter {
  private readonly suffix: string;
  private readonly cache = new ReadCache<string, SocketRecord | undefined>({
    maxEntries: MAX_ENTRIES,
    ttlMs: (socket) => (socket ? TTL_MS : NEGATIVE_TTL_MS),
  });

  constructor(
    private readonly config: EdgeConfig,
    private readonly store: Store,
  ) {
    this.suffix = `.${config.domain}`;
  }

  route(hostHeader: string | undefined): Maybe<Route> {
    const host = (hostHeader ?? '').toLowerCase();
    if (host === this.config.domain) return { kind: 'edge' };
    if (!host.endsWith(this.suffix)) return { kind: 'unknown', host };
    const label = host.slice(0, -this.suffix.length);
    if (!LABEL.test(label)) return { kind: 'unknown', host };
    return andThen(this.cache.get(label, () => this.store.sockets.findByHostname(label)), (socket): Route => (socket ? { kind: 'socket', socket, host } : { kind: 'unknown', host }));
  }

  /** A socket was just created here: its name may be cached as unknown. */
  forget(label: string): void {
    this.cache.delete(label);
  }

  /** A socket changed or went (a `socket` change): its next request reads it again. */
  forgetSocket(socketId: string): void {
    this.cache.deleteWhere((socket) => socket?.id === socketId);
  }

  clear(): void {
    this.cache.clear();
  }
}
