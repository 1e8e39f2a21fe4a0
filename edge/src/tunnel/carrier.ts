import { StreamDuplex, type MuxSession, type MuxStream, type RequestHead, type StreamHandler } from '@postern/shared';
import type { TunnelConnectionInfo } from './connection.js';

/**
 * What the proxy opens a request's stream on: a tunnel connection of this edge, or the link to
 * another edge that holds one (relay/relay-link.ts). Exchanges, limits and answers take one path
 * whichever it is.
 */
export interface StreamCarrier {
  readonly info: Pick<TunnelConnectionInfo, 'id' | 'hostRewrite' | 'requestEvents'>;
  /** Where request events for the connector's live view go (only when `info.requestEvents`). */
  readonly session: Pick<MuxSession, 'sendEvent'>;
  /** Opens the stream of one HTTP request (`fin`: it has no body); its answer goes to `handler`. Throws SessionClosedError, HeadError. */
  openRequest(kind: 'http' | 'websocket', request: RequestHead, handler: StreamHandler, fin: boolean): MuxStream;
  /** Opens a raw tcp stream; calls back once the connector reached its target (ACCEPT) or could not. */
  openStream(callback: (err: Error | null, stream?: StreamDuplex) => void): void;
  requestStarted(): void;
  requestEnded(): void;
  /** Counts a WebSocket or TCP stream for as long as it is open; returns its release (safe to call twice). */
  holdStream(): () => void;
}

/** What a carrier has in flight: requests, and WebSockets and TCP streams (which outlive their request). */
export class CarrierLoad {
  private requests = 0;
  private longLived = 0;

  /** Requests sent and not finished; the registry spreads new ones by this count. */
  get inFlight(): number {
    return this.requests;
  }

  /** Streams carrying a request, a WebSocket or a TCP connection now. */
  get streamsInUse(): number {
    return this.requests + this.longLived;
  }

  /** Counts a request from its first attempt until it settles (see proxy/exchange.ts). */
  requestStarted(): void {
    this.requests++;
  }

  requestEnded(): void {
    this.requests--;
  }

  holdStream(): () => void {
    this.longLived++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.longLived--;
    };
  }
}

/** Opens a tcp stream with `open` and calls back once, on ACCEPT (with the stream as a Duplex) or on failure. */
export function openTcpStream(open: (handler: StreamHandler) => MuxStream, callback: (err: Error | null, stream?: StreamDuplex) => void): void {
  let settled = false;
  const settle = (err: Error | null, stream?: StreamDuplex): void => {
    if (settled) return;
    settled = true;
    callback(err, stream);
  };
  let mux: MuxStream;
  try {
    mux = open({
      onStreamAccept: () => settle(null, new StreamDuplex(mux)),
      onStreamData: () => undefined, // the connector sends bytes only after ACCEPT
      onStreamClose: (err) => settle(err ?? new Error('the stream closed before it was accepted')),
    });
  } catch (err) {
    settle(err as Error);
  }
}
