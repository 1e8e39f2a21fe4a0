import { connect } from 'node:net';
import { ErrorCode, StreamResetError, type MuxSession, type MuxStream } from '@postern/shared';

export interface Target {
  readonly host: string;
  readonly port: number;
}

/** What forwarded streams report (the connector's metrics); calls are cheap and never throw. */
export interface StreamObserver {
  /** The local target could not be reached (a Node error code such as ECONNREFUSED). */
  dialFailed(code: string): void;
  /** A stream to the target closed, with the bytes it carried each way. */
  streamEnded(bytesToApp: number, bytesFromApp: number): void;
}

/**
 * Connects a stream the edge opened to the local target and pipes bytes both ways with
 * backpressure and half-close. If the target refuses, the stream is reset with
 * TARGET_UNREACHABLE so the edge can tell "app down" from "app answered 502".
 */
export function forwardStream(session: MuxSession, stream: MuxStream, target: Target, observer?: StreamObserver): void {
  const local = connect({ host: target.host, port: target.port, allowHalfOpen: true, noDelay: true });
  const onConnectError = (err: Error & { code?: string }) => {
    observer?.dialFailed(err.code ?? 'unknown');
    stream.destroy(
      new StreamResetError(ErrorCode.TARGET_UNREACHABLE, `${err.code ?? err.message} connecting to ${target.host}:${target.port}`, false),
    );
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
    session.accept(stream);
    stream.pipe(local);
    local.pipe(stream);
  });
}
