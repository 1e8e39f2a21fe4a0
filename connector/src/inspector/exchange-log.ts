import type { Target } from '../target.js';
import type { CapturedBody } from './body.js';
import type { HeaderMask } from './mask.js';

/** A socket whose exchanges the inspector records (one connector may serve several). */
export interface InspectedSocket {
  readonly name: string;
  /** Its local app: where a replay goes. */
  readonly app: Target;
  /** What its page hides (its identity header names differ per socket). */
  readonly mask: HeaderMask;
  /** Its e-mail identity header, lower-case: who the user is. */
  readonly userHeader: string;
}

/** One HTTP exchange (or WebSocket) the connector carried, as the inspector keeps it. */
export interface CapturedExchange {
  readonly id: number;
  readonly socket: InspectedSocket;
  readonly kind: 'http' | 'websocket';
  /** Milliseconds since the epoch when the edge sent the request. */
  readonly startedAt: number;
  readonly durationMs: number;
  /** The signed-in user (the socket's e-mail identity header); null on a public socket. */
  readonly user: string | null;
  readonly method: string;
  /** Path and query, as the app received it. */
  readonly target: string;
  readonly requestHeaders: readonly string[];
  readonly requestBody: CapturedBody;
  /** null when the app gave no answer (see error). */
  readonly status: number | null;
  readonly responseHeaders: readonly string[];
  readonly responseBody: CapturedBody;
  /** Why the exchange failed, if it did. */
  readonly error: string | null;
}

/** Roughly what an exchange holds in memory: its header text and kept body bytes, plus the object itself. */
export function exchangeBytes(x: CapturedExchange): number {
  let n = 256 + x.target.length + x.requestBody.bytes.length + x.responseBody.bytes.length;
  for (const f of x.requestHeaders) n += f.length;
  for (const f of x.responseHeaders) n += f.length;
  return n;
}

export interface ExchangeLogLimits {
  /** Exchanges kept (the newest). */
  readonly count: number;
  /** Bytes kept over all exchanges; the oldest go first when a new one does not fit. */
  readonly bytes: number;
}

/**
 * The last exchanges, bounded in count and in bytes (a ring: the oldest leave first), and who is
 * watching them (the page's live updates).
 */
export class ExchangeLog {
  /** Oldest first; at most `limits.count` long (shift() on an array this size is cheap). */
  private readonly exchanges: { readonly x: CapturedExchange; readonly size: number }[] = [];
  private bytes = 0;
  private readonly watchers = new Set<(x: CapturedExchange) => void>();
  private nextId = 1;

  constructor(readonly limits: ExchangeLogLimits) {}

  /** A fresh exchange id (ids only grow: the page uses them as cursors). */
  id(): number {
    return this.nextId++;
  }

  add(x: CapturedExchange): void {
    const size = exchangeBytes(x);
    if (size > this.limits.bytes) return; // cannot be kept without dropping everything else
    this.exchanges.push({ x, size });
    this.bytes += size;
    while (this.exchanges.length > this.limits.count || this.bytes > this.limits.bytes) this.bytes -= this.exchanges.shift()!.size;
    for (const watch of this.watchers) watch(x);
  }

  get length(): number {
    return this.exchanges.length;
  }

  /** Bytes held now (the estimate the byte cap applies to). */
  get heldBytes(): number {
    return this.bytes;
  }

  /** Kept exchanges, oldest first. */
  list(): CapturedExchange[] {
    return this.exchanges.map((e) => e.x);
  }

  get(id: number): CapturedExchange | undefined {
    return this.exchanges.find((e) => e.x.id === id)?.x;
  }

  /** Calls `watch` with each exchange added from now on, until the returned function is called. */
  watch(watch: (x: CapturedExchange) => void): () => void {
    this.watchers.add(watch);
    return () => this.watchers.delete(watch);
  }
}
