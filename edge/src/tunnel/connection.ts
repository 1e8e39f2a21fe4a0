import type { MuxSession, MuxStream, RequestHead, StreamDuplex, StreamHandler } from '@postern/shared';
import { CarrierLoad, openTcpStream, type StreamCarrier } from './carrier.js';

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
export class TunnelConnection extends CarrierLoad implements StreamCarrier {
  readonly connectedAt = Date.now();
  private draining = false;

  constructor(
    readonly info: TunnelConnectionInfo,
    readonly session: MuxSession,
  ) {
    super();
  }

  get usable(): boolean {
    return !this.draining && this.session.canOpen;
  }

  openRequest(kind: 'http' | 'websocket', request: RequestHead, handler: StreamHandler, fin: boolean): MuxStream {
    return this.session.open({ kind, request }, handler, fin);
  }

  /** Stop routing new requests here; in-flight ones finish. */
  drain(): void {
    this.draining = true;
  }

  openStream(callback: (err: Error | null, stream?: StreamDuplex) => void): void {
    openTcpStream((handler) => this.session.open({ kind: 'tcp' }, handler), callback);
  }
}
