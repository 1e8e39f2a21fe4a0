import type { MuxSession, MuxStream, OpenPreamble } from '@postern/shared';
import { Pool } from 'undici';
import { finGuardedConnector } from './fin-guard.js';
import { HttpForward } from './forward-http.js';
import { forwardTcp, targetLabel } from './forward-tcp.js';
import type { ObserveExchange, StreamObserver, Target } from './target.js';

export interface StreamServerOptions {
  /** The local app: from the connector's own configuration, never from the edge. */
  readonly target: Target;
  /** The connector's metrics. */
  readonly metrics?: StreamObserver | undefined;
  /** A request inspector: sees each HTTP exchange's heads and body bytes as they pass. */
  readonly observe?: ObserveExchange | undefined;
}

/** A response head larger than this is refused by the HTTP client (it could not travel in one frame anyway). */
const MAX_RESPONSE_HEAD = 32 * 1024;

/**
 * Serves the streams the edge opens for one socket: HTTP and WebSocket requests are made to the
 * socket's target with one undici Pool (keep-alive connections to the app, shared by every tunnel
 * connection), TCP streams are piped to it.
 */
export class StreamServer {
  private pool: Pool | undefined;

  constructor(private readonly options: StreamServerOptions) {}

  serve(session: MuxSession, stream: MuxStream, preamble: OpenPreamble, hasBody: boolean): void {
    const { target, metrics, observe } = this.options;
    if (preamble.kind === 'tcp') return forwardTcp(session, stream, target, metrics);
    const upgrade = preamble.kind === 'websocket';
    const inspector = observe?.(preamble.request, preamble.kind);
    // A WebSocket request has no body: its stream carries the WebSocket's bytes once the app answered 101.
    new HttpForward(stream, preamble.request, upgrade, hasBody && !upgrade, target, metrics, inspector).start(this.dispatcher());
  }

  /** Closes the app connections once their requests finished. */
  async close(): Promise<void> {
    await this.pool?.close().catch(() => undefined);
  }

  private dispatcher(): Pool {
    this.pool ??= new Pool(`http://${targetLabel(this.options.target)}`, {
      pipelining: 1,
      // The edge times out an app that does not answer (--upstream-timeout); SSE and downloads may idle for long.
      headersTimeout: 0,
      bodyTimeout: 0,
      // Apps commonly close idle connections after 5 s (Node's default): give them up before that.
      keepAliveTimeout: 4_000,
      maxHeaderSize: MAX_RESPONSE_HEAD,
      connect: finGuardedConnector(),
    });
    return this.pool;
  }
}
