import { EventEmitter } from 'node:events';
import { CloseCode, ErrorCode, MuxSession, type Hello, type SessionCloseInfo } from '@postern/shared';
import { Backoff } from './backoff.js';
import type { ConnectorConfig } from './config.js';
import { dialTunnel } from './dial.js';
import { ConnectorError } from './errors.js';
import { requestLogEntry, type RequestLogEntry } from './request-log.js';
import { StreamServer } from './stream-server.js';
import type { ObserveExchange, StreamObserver } from './target.js';

export type SlotState = 'connecting' | 'up' | 'reconnecting' | 'stopped';

export interface ConnectorEvents {
  /** The first tunnel connection is up: the socket is reachable. */
  ready: [hello: Hello];
  /** One tunnel connection changed state. */
  connection: [event: { slot: number; state: SlotState; connectionId?: string; retryInMs?: number; reason?: string }];
  /** The edge finished a request on one of our connections: a line for the live view. */
  request: [entry: RequestLogEntry];
  /** A problem that retrying cannot fix (bad token, deleted socket...): the connector stops. */
  fatal: [err: ConnectorError];
  stopped: [];
}

/**
 * One of the N parallel tunnel connections, reconnecting on its own (see Backoff for the schedule).
 * When the edge announces it is going away (GOAWAY with NO_ERROR: it is shutting down), the slot
 * dials a replacement at once, which a load balancer sends to another edge, while the old connection
 * finishes the requests it carries.
 */
class Slot {
  session: MuxSession | null = null;
  /** The edge greeted this connection (HELLO) and it has not closed since. */
  up = false;
  /** Connections the edge is draining: they finish their streams while the replacement takes over. */
  private readonly retiring = new Set<MuxSession>();
  private readonly backoff = new Backoff();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly index: number,
    private readonly owner: Connector,
  ) {}

  /** The current connection and those still draining. */
  get sessions(): MuxSession[] {
    return this.session ? [this.session, ...this.retiring] : [...this.retiring];
  }

  start(): void {
    this.owner.emit('connection', { slot: this.index, state: 'connecting' });
    void this.dial();
  }

  stop(): void {
    clearTimeout(this.timer);
  }

  private async dial(): Promise<void> {
    const { config } = this.owner;
    let ws;
    try {
      ws = await dialTunnel(config);
    } catch (err) {
      const error = err instanceof ConnectorError ? err : new ConnectorError('EDGE_UNREACHABLE', (err as Error).message);
      return this.retry(error);
    }
    if (this.owner.stopping) {
      ws.resume();
      ws.close(CloseCode.NORMAL, 'connector stopping');
      return;
    }
    const session = new MuxSession(ws, {
      role: 'connector',
      ...(config.pingIntervalMs ? { pingIntervalMs: config.pingIntervalMs } : {}),
      ...(config.deadAfterMs ? { deadAfterMs: config.deadAfterMs } : {}),
    });
    this.session = session;
    let greeted = false;
    session.on('stream', (stream, preamble, ended) => this.owner.server.serve(session, stream, preamble, !ended));
    session.on('event', (event) => {
      const entry = requestLogEntry(event, this.index);
      if (entry) this.owner.emit('request', entry);
    });
    session.on('hello', (hello) => {
      greeted = true;
      this.up = true;
      this.owner.markReady(hello);
      this.owner.emit('connection', { slot: this.index, state: 'up', connectionId: hello.connectionId });
    });
    session.on('goaway', (code, reason) => {
      if (code === ErrorCode.NO_ERROR) this.replace(session, reason);
    });
    session.on('close', (info) => {
      const current = this.session === session;
      if (current) {
        this.session = null;
        this.up = false;
      }
      this.retiring.delete(session);
      if (this.owner.stopping) return;
      const err = closeError(info);
      if (err.fatal) return this.owner.fail(err);
      if (!current) return; // a drained connection: its replacement is already under way
      if (greeted) this.backoff.lost();
      this.retry(err);
    });
    ws.resume();
  }

  /** The edge is going away: keep `session` for its in-flight streams and dial a replacement now. */
  private replace(session: MuxSession, reason: string): void {
    if (this.session !== session || this.owner.stopping) return;
    this.session = null;
    this.up = false;
    this.retiring.add(session);
    this.backoff.lost();
    this.retry(new ConnectorError('EDGE_GOING_AWAY', `the edge is going away (${reason || 'no reason given'})`));
  }

  private retry(err: ConnectorError): void {
    if (this.owner.stopping) return;
    if (err.fatal) {
      this.owner.fail(err);
      return;
    }
    const delay = this.backoff.next();
    this.owner.emit('connection', { slot: this.index, state: 'reconnecting', retryInMs: delay, reason: err.message });
    this.timer = setTimeout(() => void this.dial(), delay);
  }
}

function closeError(info: SessionCloseInfo): ConnectorError {
  if (info.code === CloseCode.SOCKET_DELETED) return new ConnectorError('SOCKET_DELETED', 'the socket was deleted on the edge');
  if (info.code === CloseCode.TUNNEL_DELETED) return new ConnectorError('TUNNEL_DELETED', 'the tunnel was deleted on the edge');
  if (info.code === CloseCode.VERSION_MISMATCH) return new ConnectorError('PROTOCOL_VERSION', `tunnel protocol mismatch: ${info.reason}`);
  if (info.code === CloseCode.UNAUTHORIZED) return new ConnectorError('UNAUTHORIZED', `the edge closed this tunnel: ${info.reason}`);
  const why = info.error?.message ?? (info.reason || `closed with code ${info.code}`);
  return new ConnectorError('TUNNEL_CLOSED', `tunnel connection lost: ${why}`);
}

/**
 * Keeps `connections` tunnels open to the edge and serves the streams it opens on the configured
 * local target (see StreamServer). stop() drains: go-away, let in-flight streams finish, close.
 */
export class Connector extends EventEmitter<ConnectorEvents> {
  /** Serves every stream of every tunnel connection on the socket's target. */
  readonly server: StreamServer;
  private readonly slots: Slot[];
  private isReady = false;
  private isStopping = false;

  constructor(
    readonly config: ConnectorConfig,
    /** Told about every forwarded stream (the metrics), when given. */
    metrics?: StreamObserver,
    /** Sees every HTTP exchange (a request inspector), when given. */
    observe?: ObserveExchange,
  ) {
    super();
    this.server = new StreamServer({ target: config.target, metrics, observe });
    this.slots = Array.from({ length: Math.max(1, config.connections) }, (_, i) => new Slot(i, this));
  }

  start(): void {
    for (const slot of this.slots) slot.start();
  }

  /** stop() was called, or a fatal error ended the connector. */
  get stopping(): boolean {
    return this.isStopping;
  }

  /** Tunnel connections the edge has greeted and that are still open. */
  get connectionsUp(): number {
    return this.slots.filter((slot) => slot.up).length;
  }

  /** Streams in flight over all tunnel connections. */
  get activeStreams(): number {
    return this.sessions().reduce((sum, session) => sum + session.activeStreams, 0);
  }

  /** Graceful stop: no new streams, in-flight ones get up to `graceMs`, then everything closes. */
  async stop(graceMs = this.config.graceMs): Promise<void> {
    if (this.isStopping) return;
    this.isStopping = true;
    for (const slot of this.slots) slot.stop();
    for (const session of this.sessions()) session.goAway();
    await this.waitForDrain(graceMs);
    for (const session of this.sessions()) session.close(CloseCode.NORMAL, 'connector stopped');
    await this.waitForClose(2_000);
    await this.server.close();
    this.emit('stopped');
  }

  markReady(hello: Hello): void {
    if (this.isReady) return;
    this.isReady = true;
    this.emit('ready', hello);
  }

  fail(err: ConnectorError): void {
    if (this.isStopping) return;
    this.isStopping = true;
    for (const slot of this.slots) slot.stop();
    for (const session of this.sessions()) session.destroy(CloseCode.NORMAL, 'connector stopped');
    this.emit('fatal', err);
  }

  /** Polls (bounded by the grace period) until no stream is in flight. */
  private async waitForDrain(graceMs: number): Promise<void> {
    const deadline = Date.now() + graceMs;
    while (this.activeStreams > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  }

  /** Every tunnel connection, current or draining. */
  private sessions(): MuxSession[] {
    return this.slots.flatMap((slot) => slot.sessions);
  }

  private waitForClose(timeoutMs: number): Promise<void> {
    const open = this.sessions().filter((s) => !s.closed);
    return Promise.race([
      Promise.all(open.map((s) => new Promise<void>((resolve) => s.once('close', () => resolve())))).then(() => undefined),
      new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref()),
    ]);
  }
}
