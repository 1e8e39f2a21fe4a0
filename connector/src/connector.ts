import { EventEmitter } from 'node:events';
import { CloseCode, ErrorCode, MuxSession, type Hello, type SessionCloseInfo } from '@postern/shared';
import type WebSocket from 'ws';
import { Backoff } from './backoff.js';
import type { ConnectorConfig } from './config.js';
import { dialTunnel } from './dial.js';
import { EdgeSet, normaliseEdgeUrl } from './edges.js';
import { ConnectorError } from './errors.js';
import { requestLogEntry, type RequestLogEntry } from './request-log.js';
import { StreamServer } from './stream-server.js';
import type { ObserveExchange, StreamObserver } from './target.js';

export type SlotState = 'connecting' | 'up' | 'reconnecting' | 'stopped';

export interface ConnectorEvents {
  /** The first tunnel connection is up (on `edge`): the socket is reachable. */
  ready: [hello: Hello, edge: string];
  /** One tunnel connection changed state; `edge`: the one it is on, or dials next. */
  connection: [event: { slot: number; state: SlotState; edge: string; connectionId?: string; retryInMs?: number; reason?: string }];
  /** The edge finished a request on one of our connections: a line for the live view. */
  request: [entry: RequestLogEntry];
  /** A problem that retrying cannot fix (bad token, deleted socket...): the connector stops. */
  fatal: [err: ConnectorError];
  stopped: [];
}

/** Failed attempts in a row on one edge after which a slot tries another known edge. */
const MOVE_AFTER_FAILURES = 2;
/** How often a slot that left its own edge tries to go back to it (plus up to half again, at random). */
export const RETURN_PROBE_MS = 30_000;

/**
 * One of the N parallel tunnel connections, reconnecting on its own (see Backoff for the schedule).
 * When the edge announces it is going away (GOAWAY with NO_ERROR: it is shutting down), the slot
 * dials a replacement at once, on another known edge if there is one (else the same URL, which a
 * load balancer sends to another edge), while the old connection finishes the requests it carries.
 *
 * With several edges each slot has its own (`home`, round-robin). After MOVE_AFTER_FAILURES failed
 * attempts it moves to another known edge (EdgeSet.next), so a dead edge costs a second or two, not
 * a connection; once up elsewhere it tries its own edge every RETURN_PROBE_MS and, when that
 * answers, moves back make-before-break: the new connection first, then the old one drains.
 */
class Slot {
  session: MuxSession | null = null;
  /** The edge greeted this connection (HELLO) and it has not closed since. */
  up = false;
  /** Connections the edge is draining: they finish their streams while the replacement takes over. */
  private readonly retiring = new Set<MuxSession>();
  private readonly backoff = new Backoff();
  private timer: NodeJS.Timeout | undefined;
  private returnTimer: NodeJS.Timeout | undefined;
  /** The edge this slot belongs on, and the one it is on (or dials next). */
  readonly home: string;
  edge: string;
  /** Failed attempts in a row on `edge`. */
  private failures = 0;

  constructor(
    readonly index: number,
    private readonly owner: Connector,
  ) {
    this.home = owner.edges.home(index);
    this.edge = this.home;
  }

  /** The current connection and those still draining. */
  get sessions(): MuxSession[] {
    return this.session ? [this.session, ...this.retiring] : [...this.retiring];
  }

  start(): void {
    this.owner.emit('connection', { slot: this.index, state: 'connecting', edge: this.edge });
    void this.dial();
  }

  stop(): void {
    clearTimeout(this.timer);
    clearTimeout(this.returnTimer);
  }

  private async dial(): Promise<void> {
    const edge = this.edge;
    let ws;
    try {
      ws = await dialTunnel(this.owner.config, edge);
    } catch (err) {
      const error = err instanceof ConnectorError ? err : new ConnectorError('EDGE_UNREACHABLE', (err as Error).message);
      return this.retry(error);
    }
    if (this.owner.stopping) return closeUnused(ws, 'connector stopping');
    this.attach(ws, edge);
  }

  /** Serves the streams of a freshly opened tunnel WebSocket to `edge`. */
  private attach(ws: WebSocket, edge: string): void {
    const { config } = this.owner;
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
      this.failures = 0;
      this.owner.edges.reached(edge);
      this.owner.edges.learn(hello.peers);
      this.owner.markReady(hello, edge);
      this.owner.emit('connection', { slot: this.index, state: 'up', edge, connectionId: hello.connectionId });
      this.scheduleReturn();
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

  /** The edge is going away: keep `session` for its in-flight streams and dial a replacement now, elsewhere if possible. */
  private replace(session: MuxSession, reason: string): void {
    if (this.session !== session || this.owner.stopping) return;
    this.retire(session);
    this.backoff.lost();
    this.moveTo(this.owner.edges.next(this.edge, this.owner.load));
    this.schedule(new ConnectorError('EDGE_GOING_AWAY', `the edge is going away (${reason || 'no reason given'})`));
  }

  /** `session` stops being current: it finishes its streams (the edge's draining, or ours) and is forgotten when it closes. */
  private retire(session: MuxSession): void {
    this.session = null;
    this.up = false;
    this.retiring.add(session);
  }

  private moveTo(edge: string): void {
    if (edge === this.edge) return;
    this.edge = edge;
    this.failures = 0;
  }

  private retry(err: ConnectorError): void {
    if (this.owner.stopping) return;
    if (err.fatal) {
      this.owner.fail(err);
      return;
    }
    this.owner.edges.failed(this.edge);
    if (++this.failures >= MOVE_AFTER_FAILURES) this.moveTo(this.owner.edges.next(this.edge, this.owner.load));
    this.schedule(err);
  }

  private schedule(err: ConnectorError): void {
    clearTimeout(this.returnTimer);
    const delay = this.backoff.next();
    this.owner.emit('connection', { slot: this.index, state: 'reconnecting', edge: this.edge, retryInMs: delay, reason: err.message });
    this.timer = setTimeout(() => void this.dial(), delay);
  }

  /** Away from its own edge and up: try that edge again later (one attempt per period, so bounded). */
  private scheduleReturn(): void {
    clearTimeout(this.returnTimer);
    if (this.edge === this.home) return;
    const period = this.owner.config.returnProbeMs ?? RETURN_PROBE_MS;
    this.returnTimer = setTimeout(() => void this.returnHome(), period * (1 + Math.random() / 2));
  }

  /** Dials the home edge; if it answers while this slot is still up elsewhere, switches to it and drains the old connection. */
  private async returnHome(): Promise<void> {
    let ws;
    try {
      ws = await dialTunnel(this.owner.config, this.home);
    } catch {
      return this.scheduleReturn();
    }
    const current = this.session;
    // Stopped, lost its connection (the reconnect decides where it goes) or already home meanwhile.
    if (this.owner.stopping || !this.up || !current || this.edge === this.home) return closeUnused(ws, 'not needed');
    this.retire(current);
    current.goAway();
    void untilIdle(() => [current], this.owner.config.graceMs).then(() => current.close(CloseCode.NORMAL, 'connector moved back to its edge'));
    this.moveTo(this.home);
    this.attach(ws, this.home);
  }
}

/** Closes a tunnel WebSocket that will not be used. */
function closeUnused(ws: WebSocket, reason: string): void {
  ws.resume();
  ws.close(CloseCode.NORMAL, reason);
}

/** Polls (bounded by `graceMs`) until no stream is in flight on `sessions`. */
async function untilIdle(sessions: () => MuxSession[], graceMs: number): Promise<void> {
  const deadline = Date.now() + graceMs;
  while (sessions().some((s) => s.activeStreams > 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
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
 * Keeps `connections` tunnels open, spread over the known edges (see Slot), and serves the streams
 * they open on the configured local target (see StreamServer). stop() drains: go-away, let in-flight streams finish, close.
 */
export class Connector extends EventEmitter<ConnectorEvents> {
  /** Serves every stream of every tunnel connection on the socket's target. */
  readonly server: StreamServer;
  /** The edges this socket's connections use. */
  readonly edges: EdgeSet;
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
    this.edges = new EdgeSet(config.edgeUrls.map((url) => normaliseEdgeUrl(url) ?? url));
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

  /** How many of this socket's slots are on (or dialing) `edge`. */
  readonly load = (edge: string): number => this.slots.filter((slot) => slot.edge === edge).length;

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
    await untilIdle(() => this.sessions(), graceMs);
    for (const session of this.sessions()) session.close(CloseCode.NORMAL, 'connector stopped');
    await this.waitForClose(2_000);
    await this.server.close();
    this.emit('stopped');
  }

  markReady(hello: Hello, edge: string): void {
    if (this.isReady) return;
    this.isReady = true;
    this.emit('ready', hello, edge);
  }

  fail(err: ConnectorError): void {
    if (this.isStopping) return;
    this.isStopping = true;
    for (const slot of this.slots) slot.stop();
    for (const session of this.sessions()) session.destroy(CloseCode.NORMAL, 'connector stopped');
    this.emit('fatal', err);
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
