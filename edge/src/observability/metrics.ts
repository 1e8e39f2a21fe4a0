import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { EdgeErrorCode } from '../errors.js';
import type { LimitName } from '../limits/reporter.js';
import type { LinkRefusal } from '../relay/link-auth.js';
import { FAULT_STAGES, type FaultStage } from '../proxy/exchange-faults.js';
import type { TunnelRegistry } from '../tunnel/registry.js';
import { RequestSeries } from './request-series.js';
import type { StoreHealth } from './store-health.js';

/** The `socket` label of requests to the edge's own host (pages, API, sign-in). */
export const EDGE_LABEL = 'edge';
/** The `socket` label of requests for a host that names no socket. */
export const UNKNOWN_HOST_LABEL = 'unknown';

/** Refusals that count as auth denials; the label is the code in lower case. */
const DENIAL_CODES: ReadonlySet<EdgeErrorCode> = new Set<EdgeErrorCode>(['UNAUTHORIZED', 'TOKEN_EXPIRED', 'TOKEN_REVOKED', 'FORBIDDEN', 'POLICY_DENIED']);

/** Where an auth denial happened: browser traffic, a WebSocket, `postern tcp`, or a connector's handshake. */
const DENIAL_VIAS = ['http', 'websocket', 'tcp', 'tunnel'] as const;
export type DenialVia = (typeof DENIAL_VIAS)[number];

/** Why an edge-to-edge relay failed (bounded: the label of postern_edge_relay_errors_total). */
export type RelayFailure = `link_${LinkRefusal}` | 'connect_failed' | 'no_connection';

/** Seconds; from a cached page to a slow app (the upstream timeout is 60 s by default). */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/**
 * The edge's Prometheus metrics. Labels are bounded: a socket id (series are dropped when the
 * socket is deleted), a status class, a fixed reason or provider; never a path or a user.
 */
export class EdgeMetrics {
  readonly registry = new Registry();
  /** Requests, their duration and bytes, by socket: counted on the request path without prom-client's label hashing. */
  private readonly requests = new RequestSeries(this.registry, DURATION_BUCKETS);
  private readonly tunnels = new Gauge({
    name: 'postern_edge_tunnel_connections',
    help: 'Live tunnel connections from connectors',
    labelNames: ['socket'] as const,
    registers: [this.registry],
  });
  private readonly connects = new Counter({
    name: 'postern_edge_tunnel_connects_total',
    help: 'Tunnel connections accepted (first connects and reconnects)',
    labelNames: ['socket'] as const,
    registers: [this.registry],
  });
  private readonly denials = new Counter({
    name: 'postern_edge_auth_denials_total',
    help: 'Requests refused for want of a valid sign-in or token, or by a socket policy',
    labelNames: ['reason', 'via'] as const,
    registers: [this.registry],
  });
  private readonly limitHits = new Counter({
    name: 'postern_edge_limit_refusals_total',
    help: 'Requests, bodies, streams and tunnel messages refused or cut by a limit (README, "Limits")',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });
  private readonly exchangeFailures = new Counter({
    name: 'postern_edge_exchange_failures_total',
    help: 'Exchanges ended by an unexpected exception inside the edge (an answer it could not relay), by stage; the edge kept serving',
    labelNames: ['stage'] as const,
    registers: [this.registry],
  });
  private readonly storeRefusals = new Counter({
    name: 'postern_edge_store_unavailable_total',
    help: 'Requests, streams and tunnel handshakes refused with 503 because the edge\'s database did not answer',
    labelNames: ['via'] as const,
    registers: [this.registry],
  });
  private readonly signIns = new Counter({
    name: 'postern_edge_sign_ins_total',
    help: 'Browser sign-ins on the edge, by provider and result',
    labelNames: ['provider', 'result'] as const,
    registers: [this.registry],
  });
  private readonly relayedStreams = new Counter({
    name: 'postern_edge_relay_streams_total',
    help: 'Streams relayed between edges: out, to the edge holding the connector; in, from a peer edge to a connector here',
    labelNames: ['direction'] as const,
    registers: [this.registry],
  });
  private readonly relayErrors = new Counter({
    name: 'postern_edge_relay_errors_total',
    help: 'Edge-to-edge relay failures: links refused (by reason), links that could not be made, streams for a socket with no connector here',
    labelNames: ['reason'] as const,
    registers: [this.registry],
  });

  /** Live tunnel connections per socket, so a late disconnect of a deleted socket cannot revive its series. */
  private readonly liveTunnels = new Map<string, number>();

  constructor(tunnelRegistry: TunnelRegistry, store: Pick<StoreHealth, 'up'>) {
    // Every stage from the start, at 0: an alert on an increase needs the series to exist.
    for (const stage of FAULT_STAGES) this.exchangeFailures.inc({ stage }, 0);
    for (const via of DENIAL_VIAS) this.storeRefusals.inc({ via }, 0);
    const storeUp = new Gauge({
      name: 'postern_store_up',
      help: "1 while the edge's database answers, 0 while it does not (requests that need it get 503)",
      registers: [this.registry],
      collect: () => {
        storeUp.set(store.up ? 1 : 0);
      },
    });
    // Streams open and close at the mux layer far more often than anyone scrapes: read them then.
    const streams = new Gauge({
      name: 'postern_edge_tunnel_streams',
      help: 'Streams open over the live tunnel connections of a socket',
      labelNames: ['socket'] as const,
      registers: [this.registry],
      collect: () => {
        streams.reset();
        for (const conn of tunnelRegistry.all()) streams.inc({ socket: conn.info.socketId }, conn.session.activeStreams);
      },
    });
  }

  /** Node's process metrics (CPU, memory, event loop lag, GC): only when someone scrapes them. */
  collectProcessMetrics(): void {
    collectDefaultMetrics({ register: this.registry });
  }

  /** One answered request; `seconds` is null for a WebSocket session (its length is not a latency). */
  requestDone(socket: string, status: number, seconds: number | null, bytesIn: number, bytesOut: number): void {
    this.requests.add(socket, status, seconds, bytesIn, bytesOut);
  }

  /** The edge refused something with `code`: counted when it is an auth denial or a store outage. */
  refused(code: EdgeErrorCode, via: DenialVia): void {
    if (DENIAL_CODES.has(code)) this.denials.inc({ reason: code.toLowerCase(), via });
    else if (code === 'STORE_UNAVAILABLE') this.storeRefusals.inc({ via });
  }

  limitHit(limit: LimitName): void {
    this.limitHits.inc({ limit });
  }

  exchangeFailed(stage: FaultStage): void {
    this.exchangeFailures.inc({ stage });
  }

  tunnelConnected(socket: string): void {
    const live = (this.liveTunnels.get(socket) ?? 0) + 1;
    this.liveTunnels.set(socket, live);
    this.tunnels.set({ socket }, live);
    this.connects.inc({ socket });
  }

  tunnelDisconnected(socket: string): void {
    const live = this.liveTunnels.get(socket);
    if (live === undefined) return; // the socket was deleted (and forgotten) first
    this.liveTunnels.set(socket, live - 1);
    this.tunnels.set({ socket }, live - 1);
  }

  relayed(direction: 'in' | 'out'): void {
    this.relayedStreams.inc({ direction });
  }

  relayFailed(reason: RelayFailure): void {
    this.relayErrors.inc({ reason });
  }

  signIn(provider: string, ok: boolean): void {
    this.signIns.inc({ provider, result: ok ? 'success' : 'failure' });
  }

  /** A deleted socket's series go, so the label set stays bounded by the sockets that exist. */
  forgetSocket(socket: string): void {
    this.liveTunnels.delete(socket);
    this.requests.forget(socket);
    for (const metric of [this.tunnels, this.connects]) metric.remove({ socket });
  }
}
