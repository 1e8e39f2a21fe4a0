import type { Socket } from 'node:net';
import { buildConnector } from 'undici';

/** How often a held FIN checks whether the parser runs again (only while one is held). */
const RETRY_MS = 5;

/**
 * Sockets to the app that keep undici 7's HTTP/1 parser from taking a connection's end wrongly.
 *
 * - undici asserts, from the socket's 'end' handler, when the app's FIN arrives while the parser is
 *   paused under backpressure (nodejs/undici#5360; fixed in undici 8, which needs Node 22): an app
 *   that closes right after a large body (HTTP/1.0, `Connection: close`, python's http.server)
 *   crashed the connector, as it once crashed the edge. Here such an 'end' is held back until the
 *   parser runs again (the connector resumes it as the edge takes the body); the socket is half-open
 *   meanwhile, so Node does not close it under the parser. Every byte before the FIN is parsed first.
 * - undici takes ECONNRESET after a close-delimited body for its end (a macOS quirk): a reset
 *   mid-body would look like a complete answer. Here a reset is always an error.
 * - A socket closed while the parser is paused cannot deliver the rest of its body: undici is told
 *   it failed (instead of finishing a paused parser, which asserts).
 */
export function finGuardedConnector(options: buildConnector.BuildOptions = {}): buildConnector.connector {
  const connect = buildConnector({ ...options, allowHalfOpen: true } as buildConnector.BuildOptions);
  return (opts, callback) =>
    connect(opts, (err, socket) => {
      if (socket) guard(socket as Socket);
      (callback as (err: Error | null, socket: Socket | null) => void)(err, socket as Socket | null);
    });
}

function guard(socket: Socket): void {
  const emit = socket.emit as (this: Socket, event: string | symbol, ...args: unknown[]) => boolean;
  let errored = false;
  socket.emit = function (this: Socket, event: string | symbol, ...args: unknown[]): boolean {
    if (event === 'end' && parserPaused(socket)) {
      const retry = (): void => {
        if (socket.destroyed) return;
        if (parserPaused(socket)) return void setTimeout(retry, RETRY_MS);
        emit.call(socket, 'end');
      };
      setTimeout(retry, RETRY_MS);
      return true;
    }
    if (event === 'error') {
      errored = true;
      const err = args[0] as NodeJS.ErrnoException | undefined;
      if (err?.code === 'ECONNRESET') return emit.call(this, 'error', new AppResetError(err));
    }
    if (event === 'close' && !errored && parserPaused(socket)) {
      errored = true;
      emit.call(this, 'error', new AppResetError(undefined));
    }
    return emit.apply(this, [event, ...args]);
  } as Socket['emit'];
}

/** The app reset (or closed under a paused answer) its connection: the answer did not complete. */
class AppResetError extends Error {
  override readonly name = 'AppResetError';
  readonly code = 'EAPPRESET';
  constructor(cause: Error | undefined) {
    super(cause ? `the app reset the connection (${cause.message})` : 'the app closed the connection before the end of its answer', { cause });
  }
}

/** undici keeps its parser on the socket under a symbol described 'parser' (lib/core/symbols.js). */
function parserPaused(socket: Socket): boolean {
  const key = Object.getOwnPropertySymbols(socket).find((s) => s.description === 'parser');
  const parser = key ? (socket as unknown as Record<symbol, { paused?: boolean } | null>)[key] : undefined;
  return parser?.paused === true;
}
