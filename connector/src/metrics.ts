import { startMonitoringServer, statusClass, type MonitoringServer, type ProbeResult } from '@postern/shared';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import type { Connector } from './connector.js';
import type { StreamObserver } from './target.js';

/** Node error codes are a closed set; anything else is folded into one label value. */
const errorCodeLabel = (code: string): string => (/^E[A-Z0-9_]{2,24}$/.test(code) ? code : 'other');

/**
 * The connector's Prometheus metrics and its /healthz and /readyz (`postern connect --metrics`).
 * Request counts come from the edge's request events, so the connector asks for them when this is on.
 */
export class ConnectorMetrics implements StreamObserver {
  readonly registry = new Registry();
  /** The connectors followed: one per socket (`connect --config` serves several). */
  private readonly connectors: Connector[] = [];
  private readonly reconnects = new Counter({
    name: 'postern_connector_reconnects_total',
    help: 'Times a tunnel connection was lost or could not be opened and a new attempt was scheduled',
    registers: [this.registry],
  });
  private readonly requests = new Counter({
    name: 'postern_connector_requests_total',
    help: 'Requests the edge finished over this connector, by status class',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });
  private readonly bytes = new Counter({
    name: 'postern_connector_app_bytes_total',
    help: 'Bytes carried to and from the local app (counted when each stream closes)',
    labelNames: ['direction'] as const,
    registers: [this.registry],
  });
  private readonly dialErrors = new Counter({
    name: 'postern_connector_app_dial_errors_total',
    help: 'Streams the edge opened that could not reach the local app, by error code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  constructor() {
    // Read when scraped: the connector already keeps these counts.
    const tunnels = new Gauge({
      name: 'postern_connector_tunnel_connections',
      help: 'Tunnel connections to the edge that are up',
      registers: [this.registry],
      collect: () => {
        tunnels.set(this.connectors.reduce((n, c) => n + c.connectionsUp, 0));
      },
    });
    const streams = new Gauge({
      name: 'postern_connector_streams',
      help: 'Streams open to the local app',
      registers: [this.registry],
      collect: () => {
        streams.set(this.connectors.reduce((n, c) => n + c.activeStreams, 0));
      },
    });
    collectDefaultMetrics({ register: this.registry });
  }

  /** Follows a connector's connections and finished requests (once per connector, before it starts). */
  watch(connector: Connector): void {
    this.connectors.push(connector);
    connector.on('connection', (event) => {
      if (event.state === 'reconnecting') this.reconnects.inc();
    });
    connector.on('request', (entry) => {
      if (entry.kind === 'request') this.requests.inc({ code: statusClass(entry.status) });
    });
  }

  dialFailed(code: string): void {
    this.dialErrors.inc({ code: errorCodeLabel(code) });
  }

  streamEnded(bytesToApp: number, bytesFromApp: number): void {
    if (bytesToApp > 0) this.bytes.inc({ direction: 'to_app' }, bytesToApp);
    if (bytesFromApp > 0) this.bytes.inc({ direction: 'from_app' }, bytesFromApp);
  }

  /** Liveness: every socket served has at least one tunnel connection up. */
  live(): ProbeResult {
    if (this.connectors.length === 0) return { ok: false, reason: 'starting: no tunnel connection yet' };
    return this.connectors.every((c) => c.connectionsUp > 0) ? { ok: true } : { ok: false, reason: 'no tunnel connection to the edge is up' };
  }

  /** Readiness: up, and not draining. */
  ready(): ProbeResult {
    if (this.connectors.some((c) => c.stopping)) return { ok: false, reason: 'stopping: in-flight requests are draining' };
    return this.live();
  }

  /** Serves /metrics, /healthz and /readyz on host:port (answers 503 until watch() and a tunnel are up). */
  serve(host: string, port: number): Promise<MonitoringServer> {
    return startMonitoringServer(host, port, {
      metrics: () => this.registry.metrics(),
      metricsContentType: this.registry.contentType,
      live: () => this.live(),
      ready: () => this.ready(),
    });
  }
}
