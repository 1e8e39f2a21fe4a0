import { ErrorCode, SessionClosedError, StreamResetError } from '@postern/shared';
import { EdgeError } from '../errors.js';

/** Maps what went wrong on the way to the app (a stream reset by the connector, a lost tunnel) to the page the person sees. */
export function upstreamError(err: unknown, target: string): EdgeError {
  if (err instanceof StreamResetError && err.byPeer) {
    if (err.code === ErrorCode.TARGET_UNREACHABLE) {
      // `target` is the public name; the app is whatever the connector serves on its own machine.
      return new EdgeError('APP_UNREACHABLE', `The connector for ${target} is online, but the app it serves on its machine is not answering (${err.reason}).`, { cause: err });
    }
    if (err.code === ErrorCode.TARGET_BAD_RESPONSE) {
      return new EdgeError('APP_BAD_RESPONSE', `The app behind ${target} answered with something that is not a valid HTTP/1.1 response: ${err.reason}.`, { cause: err });
    }
    if (err.code === ErrorCode.TARGET_FAILED) {
      return new EdgeError('APP_ERROR', `The app behind ${target} did not answer properly: ${err.reason || 'it closed the connection'}.`, { cause: err });
    }
  }
  if (err instanceof SessionClosedError || err instanceof StreamResetError) {
    return new EdgeError('TUNNEL_ERROR', `The tunnel to ${target} was interrupted before the app answered.`, { cause: err });
  }
  return new EdgeError('TUNNEL_ERROR', `The request to ${target} failed: ${(err as Error).message}`, { cause: err });
}
