import { MuxSession, type MuxStream } from '@postern/shared';
import { Pool, type buildConnector } from 'undici';
import { containStreamListeners } from '../proxy/exchange-faults.js';

export interface TunnelConnectionInfo {
  readonly id: string;
  readonly socketId: string;
  /** The tunnel this connection serves, when the connector named one. */
  readonly tunnelId: string | null;
  readonly accountId: string;
  /** The token the connector authenticated with: revoking it closes this connection. */
  readonly tokenId: string;
  /** The connector asked for request events (`Postern-Events: request`). */
  readonly requestEvents: boolean;
  readonly connectorId: string;
  readonly remoteAddress: string;
  /** Host header the connector asked for, instead of the public one (apps that refuse unknown hosts). */
  readonly hostRewrite: string | undefined;
}

/**
 * One WebSocket from one connector. Requests reach the app through an undici Pool whose
 * "sockets" are mux streams: each keep-alive HTTP/1.1 connection is one stream.
 */
export class TunnelConnection {
  readonly pool: Pool;
  readonly connectedAt = Date.now();
  /** Requests dispatched and not finished; the registry spreads new ones by this count. */
  inFlight = 0;
  /** Upgraded WebSockets and TCP streams open on this connection (they outlive their request). */
  longLived = 0;
  draining = false;

  constructor(
    readonly info: TunnelConnectionInfo,
    readonly session: MuxSession,
    upstreamTimeoutMs: number,
  ) {
    this.pool = new Pool('http://tunnel.postern.invalid', {
      connect: (_options, callback) => this.openHttpStream(callback),
      pipelining: 1,
      headersTimeout: upstreamTimeoutMs,
      bodyTimeout: 0, // SSE and long downloads may idle for long; the link itself is watched by pings
      keepAliveTimeout: 4_000,
      connectTimeout: upstreamTimeoutMs,
    });
  }

  get usable(): boolean {
    return !this.draining && !this.session.closed && !this.session.remoteGoAway;
  }

  /** Streams carrying a request, a WebSocket or a TCP connection now (idle keep-alive streams are free). */
  get streamsInUse(): number {
    return this.inFlight + this.longLived;
  }

  /** Counts a WebSocket or TCP stream for as long as it is open; returns its release (safe to call twice). */
  holdStream(): () => void {
    this.longLived++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.longLived--;
    };
  }

  /** Stop routing new requests here; in-flight ones finish, idle streams close. */
  drain(): void {
    if (this.draining) return;
    this.draining = true;
    this.pool.close().catch(() => undefined);
  }

  /** Opens a raw stream (TCP sockets, later); the connector pipes it to its target. */
  openStream(kind: 'http' | 'tcp', callback: (err: Error | null, stream?: MuxStream) => void): void {
    let stream: MuxStream;
    try {
      stream = this.session.open(kind);
    } catch (err) {
      callback(err as Error);
      return;
    }
    stream.whenAccepted((err) => (err ? callback(err) : callback(null, stream)));
  }

  private openHttpStream(callback: buildConnector.Callback): void {
    // undici drives HTTP/1.1 over the mux stream as if it were a TCP socket; its parser runs in
    // the stream's listeners, whose exceptions must fail one request, not the edge.
    this.openStream('http', (err, stream) => {
      if (err || !stream) return callback(err ?? new Error('no stream'), null);
      containStreamListeners(stream);
      callback(null, stream as never);
    });
  }
}
