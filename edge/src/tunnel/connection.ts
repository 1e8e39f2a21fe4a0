import { StreamDuplex, type MuxSession, type MuxStream, type RequestHead, type StreamHandler } from '@postern/shared';

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
 * One WebSocket from one connector. Each request is one stream whose OPEN carries the request head;
 * the connector makes the request to its app and answers with the response head (see proxy/exchange.ts).
 */
export class TunnelConnection {
  readonly connectedAt = Date.now();
  private requests = 0;
  /** Upgraded WebSockets and TCP streams open on this connection (they outlive their request). */
  private longLived = 0;
  private draining = false;

  constructor(
    readonly info: TunnelConnectionInfo,
    readonly session: MuxSession,
  ) {}

  /** Requests sent and not finished; the registry spreads new ones by this count. */
  get inFlight(): number {
    return this.requests;
  }

  get usable(): boolean {
    return !this.draining && this.session.canOpen;
  }

  /** Streams carrying a request, a WebSocket or a TCP connection now. */
  get streamsInUse(): number {
    return this.requests + this.longLived;
  }

  /** Opens the stream of one HTTP request (`fin`: it has no body); its answer goes to `handler`. Throws SessionClosedError, HeadError. */
  openRequest(kind: 'http' | 'websocket', request: RequestHead, handler: StreamHandler, fin: boolean): MuxStream {
    return this.session.open({ kind, request }, handler, fin);
  }

  /** Counts a request from its first attempt on this connection until it settles (see proxy/exchange.ts). */
  requestStarted(): void {
    this.requests++;
  }

  requestEnded(): void {
    this.requests--;
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

  /** Stop routing new requests here; in-flight ones finish. */
  drain(): void {
    this.draining = true;
  }

  /** Opens a raw tcp stream; calls back once the connector reached its target (ACCEPT) or could not. */
  openStream(callback: (err: Error | null, stream?: StreamDuplex) => void): void {
    let settled = false;
    const settle = (err: Error | null, stream?: StreamDuplex): void => {
      if (settled) return;
      settled = true;
      callback(err, stream);
    };
    let mux: MuxStream;
    try {
      mux = this.session.open({ kind: 'tcp' }, {
        onStreamAccept: () => settle(null, new StreamDuplex(mux)),
        onStreamData: () => undefined, // the connector sends bytes only after ACCEPT
        onStreamClose: (err) => settle(err ?? new Error('the stream closed before it was accepted')),
      });
    } catch (err) {
      settle(err as Error);
    }
  }
}
