import { ErrorCode, SessionClosedError, StreamResetError } from '@postern/shared';
import { errors as undiciErrors } from 'undici';
import { EdgeError } from '../errors.js';

/** Maps what went wrong on the way to the app to the page the person sees. */
export function upstreamError(err: unknown, target: string): EdgeError {
  if (err instanceof StreamResetError && err.code === ErrorCode.TARGET_UNREACHABLE) {
    // `target` is the public name; the app is whatever the connector serves on its own machine.
    return new EdgeError('APP_UNREACHABLE', `The connector for ${target} is online, but the app it serves on its machine is not answering (${err.reason}).`, { cause: err });
  }
  if (err instanceof undiciErrors.HeadersTimeoutError || err instanceof undiciErrors.ConnectTimeoutError) {
    return new EdgeError('APP_TIMEOUT', `The app behind ${target} did not answer in time.`, { cause: err });
  }
  if (err instanceof SessionClosedError || err instanceof StreamResetError) {
    return new EdgeError('TUNNEL_ERROR', `The tunnel to ${target} was interrupted before the app answered.`, { cause: err });
  }
  if (isBadResponse(err)) {
    return new EdgeError('APP_BAD_RESPONSE', `The app behind ${target} answered with something that is not a valid HTTP/1.1 response: ${(err as Error).message}`, { cause: err });
  }
  if (err instanceof undiciErrors.SocketError) {
    return new EdgeError('APP_ERROR', `The app behind ${target} closed the connection without answering.`, { cause: err });
  }
  if (err instanceof undiciErrors.RequestContentLengthMismatchError) {
    return new EdgeError('BAD_REQUEST', 'The request body did not match its Content-Length.', { cause: err });
  }
  return new EdgeError('TUNNEL_ERROR', `The request to ${target} failed: ${(err as Error).message}`, { cause: err });
}

/** The app's bytes were not an HTTP/1.1 answer the client accepts (undici's parser refused them). */
function isBadResponse(err: unknown): boolean {
  return (
    err instanceof undiciErrors.HTTPParserError ||
    err instanceof undiciErrors.ResponseContentLengthMismatchError ||
    err instanceof undiciErrors.HeadersOverflowError ||
    (err instanceof undiciErrors.SocketError && (err.message === 'bad response' || err.message === 'bad upgrade'))
  );
}
