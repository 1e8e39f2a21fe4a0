import { connect } from 'node:net';
import { ErrorCode, StreamDuplex, StreamResetError, type MuxSession, type MuxStream } from '@postern/shared';
import type { StreamObserver, Target } from './target.js';

/**
 * Connects a tcp stream the edge opened to the local target and pipes bytes both ways with
 * backpressure and half-close. If the target refuses, the stream is reset with
 * TARGET_UNREACHABLE so the edge can tell "app down" from a stream that failed later.
 */
export function forwardTcp(session: MuxSession, mux: MuxStream, target: Target, observer?: StreamObserver): void {
  const stream = new StreamDuplex(mux);
  const local = connect({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true });
  const onConnectError = (err: Error & { code?: string }) => {
    observer?.dialFailed(err.code ?? 'unknown');
    stream.destroy(new StreamResetError(ErrorCode.TARGET_UNREACHABLE, `${err.code ?? err.message} connecting to ${targetLabel(target)}`, false));
  };
  local.once('error', onConnectError);
  stream.once('close', () => {
    // On a reset cut the local side; after a clean close it shuts itself once its writes flush.
    if (stream.errored || !(stream.readableEnded && stream.writableFinished)) local.destroy();
  });
  local.once('connect', () => {
    if (observer) local.once('close', () => observer.streamEnded(local.bytesWritten, local.bytesRead));
    local.off('error', onConnectError);
    local.on('error', (err) => stream.destroy(err));
    session.accept(mux);
    stream.pipe(local);
    local.pipe(stream);
  });
}

/** host:port, with IPv6 literals in brackets. */
export const targetLabel = (target: Target): string => (target.host.includes(':') ? `[${target.host}]:${target.port}` : `${target.host}:${target.port}`);
