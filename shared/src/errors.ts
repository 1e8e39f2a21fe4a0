import { ERROR_CODE_NAMES, type ErrorCode } from './frame.js';

/** The peer broke the protocol: the whole session is torn down with this code. */
export class ProtocolError extends Error {
  override readonly name = 'ProtocolError';
  constructor(
    readonly code: ErrorCode,
    message: string,
  ) {
    super(message);
  }
}

/** A single stream was reset, by the peer or locally. */
export class StreamResetError extends Error {
  override readonly name = 'StreamResetError';
  constructor(
    readonly code: ErrorCode,
    readonly reason: string,
    readonly byPeer: boolean,
  ) {
    super(`stream reset${byPeer ? ' by peer' : ''}: ${ERROR_CODE_NAMES[code] ?? code}${reason ? ` (${reason})` : ''}`);
  }
}

/** The session ended (go-away, close or dead link) while a stream was still open. */
export class SessionClosedError extends Error {
  override readonly name = 'SessionClosedError';
  constructor(message: string) {
    super(message);
  }
}
