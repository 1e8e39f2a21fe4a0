import { ErrorCode, HeadError, SessionClosedError, StreamResetError, type MuxSession, type MuxStream, type OpenPreamble, type RequestHead, type ResponseHead, type StreamHandler } from '@postern/shared';
import type { TunnelConnection } from '../tunnel/connection.js';

/** The reset a stream is ended with when its partner ended with `err`: the connector's code passes through unchanged. */
function resetFor(err: Error): { code: ErrorCode; reason: string } {
  if (err instanceof StreamResetError) return { code: err.code, reason: err.reason };
  if (err instanceof SessionClosedError) return { code: ErrorCode.CANCEL, reason: 'the tunnel to the connector was lost' };
  return { code: ErrorCode.INTERNAL_ERROR, reason: 'the relay failed' };
}

/** The request as the chosen connection's connector wants it: its Host rewrite applies here, where the connection is known. */
function forConnection(request: RequestHead, conn: TunnelConnection): RequestHead {
  const rewrite = conn.info.hostRewrite;
  if (rewrite === undefined) return request;
  const headers = [...request.headers];
  for (let i = 0; i < headers.length; i += 2) if (headers[i] === 'host') headers[i + 1] = rewrite;
  return { ...request, headers };
}

/**
 * One stream from a peer edge joined to one stream on a local tunnel connection, frame for frame:
 * heads, bytes both ways, FINs and resets. Credit goes back to each sender only once the other
 * stream's queue took its bytes, so the relaying edge holds at most a window per direction. Policy
 * ran on the edge that took the request: nothing here looks at what the stream carries.
 */
export class SplicedStream {
  private local: MuxStream | null = null;
  /** Bytes taken from one side and queued on the other while it was full: credited back on its drain. */
  private owedToPeer = 0;
  private owedToLocal = 0;

  private constructor(
    private readonly peer: MuxStream,
    private readonly peerSession: MuxSession,
  ) {}

  /** Opens the local stream for `peer` on `conn` (`ended`: the peer's OPEN carried FIN); it counts against `conn` until both are over. */
  static join(peer: MuxStream, peerSession: MuxSession, preamble: OpenPreamble, ended: boolean, conn: TunnelConnection): void {
    const splice = new SplicedStream(peer, peerSession);
    peer.attach(splice.fromPeer);
    const release = preamble.kind === 'http' ? (conn.requestStarted(), () => conn.requestEnded()) : conn.holdStream();
    let closed = 0;
    const closedOne = () => {
      if (++closed === 2) release();
    };
    splice.closedOne = closedOne;
    try {
      splice.local =
        preamble.kind === 'tcp'
          ? conn.session.open({ kind: 'tcp' }, splice.fromLocal, ended)
          : conn.openRequest(preamble.kind, forConnection(preamble.request, conn), splice.fromLocal, ended);
    } catch (err) {
      // Nothing reached the connector: the relaying edge may try elsewhere.
      const code = err instanceof HeadError ? ErrorCode.PROTOCOL_ERROR : ErrorCode.REFUSED_STREAM;
      closedOne();
      peer.reset(code, (err as Error).message);
    }
  }

  private closedOne: () => void = () => undefined;

  /** Ends `stream` because its partner ended with `err` (a no-op on a stream already over). */
  private static resetWith(stream: MuxStream | null, err: Error): void {
    const { code, reason } = resetFor(err);
    stream?.reset(code, reason);
  }

  /** The peer edge's side: the client's body or WebSocket bytes, toward the connector. */
  private readonly fromPeer: StreamHandler = {
    onStreamData: (chunk, last) => {
      const local = this.local;
      if (!local) return;
      if (chunk.length > 0) {
        if (local.write(chunk)) this.peer.consumed(chunk.length);
        else this.owedToPeer += chunk.length;
      }
      if (last) local.end();
    },
    onStreamDrain: () => {
      const owed = this.owedToLocal;
      this.owedToLocal = 0;
      this.local?.consumed(owed);
    },
    onStreamClose: (err) => {
      this.closedOne();
      if (err) SplicedStream.resetWith(this.local, err);
    },
  };

  /** The connector's side: the app's head and bytes, toward the peer edge. */
  private readonly fromLocal: StreamHandler = {
    onStreamHead: (head: ResponseHead) => this.peer.respond(head),
    onStreamAccept: () => this.peerSession.accept(this.peer),
    onStreamData: (chunk, last) => {
      if (chunk.length > 0) {
        if (this.peer.write(chunk)) this.local?.consumed(chunk.length);
        else this.owedToLocal += chunk.length;
      }
      if (last) this.peer.end();
    },
    onStreamDrain: () => {
      const owed = this.owedToPeer;
      this.owedToPeer = 0;
      this.peer.consumed(owed);
    },
    onStreamClose: (err) => {
      this.closedOne();
      if (err) SplicedStream.resetWith(this.peer, err);
    },
  };
}
