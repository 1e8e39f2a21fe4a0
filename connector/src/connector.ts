import { EventEmitter } from 'node:events';
import { CloseCode, MuxSession, type Hello, type SessionCloseInfo } from '@postern/shared';
import { Backoff } from './backoff.js';
import type { ConnectorConfig } from './config.js';
import { dialTunnel } from './dial.js';
import { ConnectorError } from './errors.js';
import { forwardStream, type StreamObserver } from './forward.js';
import { requestLogEntry, type RequestLogEntry } from './request-log.js';

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

/** One of the N parallel tunnel connections, reconnecting on its own. */
class Slot {
  session: MuxSession | null = null;
  /** The edge greeted this connection (HELLO) and it has not closed since. */
  up = false;
  private readonly backoff = new Backoff();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    readonly index: number,
    private readonly owner: Connector,
  ) {}

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
    session.on('stream', (stream) => forwardStream(session, stream, config.target, this.owner.observer));
    session.on('event', (event) => {
      const entry = requestLogEntry(event, this.index);
      if (entry) this.owner.emit('request', entry);
    });
    session.on('hello', (hello) => {
      this.up = true;
      this.backoff.reset();
      this.owner.markReady(hello);
      this.owner.emit('connection', { slot: this.index, state: 'up', connectionId: hello.connectionId });
    });
    session.on('close', (info) => {
      this.session = null;
      this.up = false;
      if (this.owner.stopping) return;
      this.retry(closeError(info));
    });
    ws.resume();
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
  if (info.code === CloseCode.UNAUTHORIZED) return new ConnectorError('UNAUTHORIZED', `the edge revoked this tunnel: ${info.reason}`);
  const why = info.error?.message ?? (info.reason || `closed with code ${info.code}`);
  return new ConnectorError('TUNNEL_CLOSED', `tunnel connection lost: ${why}`);
}

/**
 * Keeps `connections` tunnels open to the edge and serves the streams it opens by piping them
 * to the configured local target. stop() drains: go-away, let in-flight streams finish, close.
 */
export class Connector extends EventEmitter<ConnectorEvents> {
  stopping = false;
  private readonly slots: Slot[];
  private isReady = false;

  constructor(
    readonly config: ConnectorConfig,
    /** Told about every forwarded stream (the metrics), when given. */
    readonly observer?: StreamObserver,
  ) {
    super();
    this.slots = Array.from({ length: Math.max(1, config.connections) }, (_, i) => new Slot(i, this));
  }

  start(): void {
    for (const slot of this.slots) slot.start();
  }

  /** Tunnel connections the edge has greeted and that are still open. */
  get connectionsUp(): number {
    return this.slots.filter((slot) => slot.up).length;
  }

  /** Streams in flight over all tunnel connections. */
  get activeStreams(): number {
    return this.slots.reduce((sum, slot) => sum + (slot.session?.activeStreams ?? 0), 0);
  }

  /** Graceful stop: no new streams, in-flight ones get up to `graceMs`, then everything closes. */
  async stop(graceMs = this.config.graceMs): Promise<void> {
    if (this.stopping) return;
    this.stopping = true;
    for (const slot of this.slots) {
      slot.stop();
      slot.session?.goAway();
    }
    await this.waitForDrain(graceMs);
    for (const slot of this.slots) slot.session?.close(CloseCode.NORMAL, 'connector stopped');
    await this.waitForClose(2_000);
    this.emit('stopped');
  }

  markReady(hello: Hello): void {
    if (this.isReady) return;
    this.isReady = true;
    this.emit('ready', hello);
  }

  fail(err: ConnectorError): void {
    if (this.stopping) return;
    this.stopping = true;
    for (const slot of this.slots) {
      slot.stop();
      slot.session?.destroy(CloseCode.NORMAL, 'connector stopped');
    }
    this.emit('fatal', err);
  }

  /** Polls (bounded by the grace period) until no stream is in flight. */
  private async waitForDrain(graceMs: number): Promise<void> {
    const deadline = Date.now() + graceMs;
    while (this.activeStreams > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  }

  private waitForClose(timeoutMs: number): Promise<void> {
    const open = this.slots.map((s) => s.session).filter((s): s is MuxSession => s !== null && !s.closed);
    return Promise.race([
      Promise.all(open.map((s) => new Promise<void>((resolve) => s.once('close', () => resolve())))).then(() => undefined),
      new Promise<void>((resolve) => setTimeout(resolve, timeoutMs).unref()),
    ]);
  }
}
