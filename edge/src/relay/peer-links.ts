import { MuxSession, type MuxStream, type RequestHead, type StreamDuplex, type StreamHandler } from '@postern/shared';
import WebSocket from 'ws';
import type { EdgeInfo } from '../cluster/edge-lease.js';
import { CarrierLoad, openTcpStream, type StreamCarrier } from '../tunnel/carrier.js';
import { linkHeaders } from './link-auth.js';
import { LINK_PATH } from './link-endpoint.js';

/** A peer that does not complete the upgrade in this long is skipped for the next edge. */
export const LINK_CONNECT_TIMEOUT_MS = 2_000;

export interface LinkTiming {
  readonly connectTimeoutMs: number;
  readonly pingIntervalMs: number;
  readonly deadAfterMs: number;
}

/** The link's WebSocket URL at a peer's advertised address. */
export function linkUrl(advertiseUrl: string): string {
  const url = new URL(LINK_PATH, advertiseUrl);
  url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
  return url.toString();
}

/** One WebSocket to one peer edge, carrying streams for any socket whose connector is there. */
export class PeerLink extends CarrierLoad {
  constructor(
    readonly peer: EdgeInfo,
    readonly session: MuxSession,
  ) {
    super();
  }

  get usable(): boolean {
    return this.session.canOpen;
  }

  /** The carrier of one socket's streams over this link. */
  carrier(socketId: string): RelayCarrier {
    return new RelayCarrier(this, socketId);
  }
}

/**
 * Streams for `socketId` opened on a peer link: the proxy treats it like a tunnel connection. The
 * connector's request events and Host rewrite belong to the edge that holds its connection.
 */
export class RelayCarrier implements StreamCarrier {
  readonly info: StreamCarrier['info'];

  constructor(
    readonly link: PeerLink,
    private readonly socketId: string,
  ) {
    this.info = { id: `link_${link.peer.edgeId}`, hostRewrite: undefined, requestEvents: false };
  }

  get session(): MuxSession {
    return this.link.session;
  }

  openRequest(kind: 'http' | 'websocket', request: RequestHead, handler: StreamHandler, fin: boolean): MuxStream {
    return this.link.session.open({ kind, request, socket: this.socketId }, handler, fin);
  }

  openStream(callback: (err: Error | null, stream?: StreamDuplex) => void): void {
    openTcpStream((handler) => this.link.session.open({ kind: 'tcp', socket: this.socketId }, handler), callback);
  }

  requestStarted(): void {
    this.link.requestStarted();
  }

  requestEnded(): void {
    this.link.requestEnded();
  }

  holdStream(): () => void {
    return this.link.holdStream();
  }
}

/**
 * This edge's links to its peers, one per peer, made on first use and reused; a link that closes is
 * forgotten and the next request makes a new one. Connecting is bounded by a short timeout.
 */
export class PeerLinks {
  private readonly open = new Map<string, PeerLink>();
  private readonly connecting = new Map<string, Promise<PeerLink>>();
  private closed = false;

  constructor(
    private readonly self: EdgeInfo,
    private readonly secret: string,
    private readonly timing: LinkTiming,
    private readonly maxMessageBytes: number,
  ) {}

  /** The open link to `peer`, if there is one now. */
  current(peer: EdgeInfo): PeerLink | undefined {
    const link = this.open.get(peer.edgeId);
    return link?.usable ? link : undefined;
  }

  /** The link to `peer`, made if needed; rejects when the peer cannot be reached or refuses. */
  link(peer: EdgeInfo): Promise<PeerLink> {
    const current = this.current(peer);
    if (current) return Promise.resolve(current);
    let pending = this.connecting.get(peer.edgeId);
    if (!pending) {
      pending = this.connect(peer).finally(() => this.connecting.delete(peer.edgeId));
      this.connecting.set(peer.edgeId, pending);
    }
    return pending;
  }

  /** Streams in flight over every link (a draining edge waits for them). */
  get inFlight(): number {
    let total = 0;
    for (const link of this.open.values()) total += link.inFlight;
    return total;
  }

  close(): void {
    this.closed = true;
    for (const link of this.open.values()) link.session.destroy();
    this.open.clear();
  }

  private connect(peer: EdgeInfo): Promise<PeerLink> {
    if (this.closed) return Promise.reject(new Error('the edge is stopping'));
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(linkUrl(peer.advertiseUrl), {
        headers: linkHeaders(this.secret, this.self.edgeId, peer.edgeId),
        handshakeTimeout: this.timing.connectTimeoutMs,
        perMessageDeflate: false,
        maxPayload: this.maxMessageBytes,
        followRedirects: false,
      });
      const fail = (err: Error) => {
        ws.removeAllListeners();
        ws.on('error', () => undefined);
        ws.terminate();
        reject(err);
      };
      ws.once('unexpected-response', (_req, res) => fail(new Error(`${peer.edgeId} refused the link: ${res.statusCode}`)));
      ws.once('error', fail);
      ws.once('open', () => {
        ws.removeAllListeners();
        const session = new MuxSession(ws, { role: 'edge', pingIntervalMs: this.timing.pingIntervalMs, deadAfterMs: this.timing.deadAfterMs });
        const link = new PeerLink(peer, session);
        session.on('close', () => {
          if (this.open.get(peer.edgeId) === link) this.open.delete(peer.edgeId);
        });
        if (this.closed) session.destroy();
        else this.open.set(peer.edgeId, link);
        resolve(link);
      });
    });
  }
}
