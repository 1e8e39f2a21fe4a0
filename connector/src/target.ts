import type { RequestHead, ResponseHead } from '@postern/shared';

/** The local app a socket's streams go to: from the connector's own command line, never from the edge. */
export interface Target {
  readonly host: string;
  readonly port: number;
}

/** What forwarded streams report (the connector's metrics); calls are cheap and never throw. */
export interface StreamObserver {
  /** The local target could not be reached (a Node error code such as ECONNREFUSED). */
  dialFailed(code: string): void;
  /** A stream to the target closed, with the bytes it carried each way (for HTTP: heads as HTTP/1.1 writes them, and bodies). */
  streamEnded(bytesToApp: number, bytesFromApp: number): void;
}

/**
 * Sees one HTTP exchange as the connector carries it (a request inspector's hook). Every method is
 * optional and must not throw; bodies are shown as they pass, never held back.
 */
export interface ExchangeObserver {
  requestBody?(chunk: Buffer): void;
  response?(head: ResponseHead): void;
  responseBody?(chunk: Buffer): void;
  /** The exchange is over: completed, or failed with `error`. */
  end?(error: Error | undefined): void;
}

/** Called for each HTTP or WebSocket request the edge sends; returns an observer for it, or none. */
export type ObserveExchange = (request: RequestHead, kind: 'http' | 'websocket') => ExchangeObserver | undefined;
