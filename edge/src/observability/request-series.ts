import { ALL_STATUS_CLASSES, statusClass, type StatusClass } from '@postern/shared';
import type { Metric, Registry } from 'prom-client';

/** One socket's requests: plain numbers, updated on every request, read only when Prometheus scrapes. */
interface SocketRequests {
  readonly byClass: Map<StatusClass, number>;
  /** Observations per duration bucket (not cumulative; the last slot is above every bound). */
  readonly buckets: number[];
  count: number;
  sum: number;
  bytesIn: number;
  bytesOut: number;
}

interface Value {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
  readonly metricName?: string;
}

/**
 * The per-request metrics of the proxy (requests by socket and status class, their duration, body
 * bytes each way). prom-client hashes a label object on every inc() and observe() (measured: about
 * 2 µs of edge CPU per request for these four series); here a request adds to plain numbers of its
 * socket's entry, and the series are built when someone scrapes. Same names, labels and values as
 * prom-client's own counter and histogram would give.
 */
export class RequestSeries {
  private readonly sockets = new Map<string, SocketRequests>();

  constructor(
    registry: Registry,
    private readonly bounds: readonly number[],
  ) {
    const metric = (name: string, help: string, type: 'counter' | 'histogram', values: () => Value[]): void => {
      const entry = { name, help, type, aggregator: 'sum', get: () => ({ name, help, type, aggregator: 'sum', values: values() }), reset: () => this.sockets.clear() };
      registry.registerMetric(entry as unknown as Metric<string>);
    };
    metric('postern_edge_requests_total', 'Requests answered, by socket id (edge: the edge host, unknown: no such socket) and status class', 'counter', () =>
      this.each((socket, s) => ALL_STATUS_CLASSES.filter((code) => s.byClass.has(code)).map((code) => ({ labels: { socket, code }, value: s.byClass.get(code)! }))),
    );
    metric('postern_edge_request_duration_seconds', 'Time from the request to the end of its answer (HTTP; WebSocket sessions are not included)', 'histogram', () =>
      this.each((socket, s) => this.histogram(socket, s)),
    );
    metric('postern_edge_request_bytes_total', 'Body bytes received from clients for the app (WebSocket payload counted when the session ends)', 'counter', () =>
      this.each((socket, s) => (s.bytesIn > 0 ? [{ labels: { socket }, value: s.bytesIn }] : [])),
    );
    metric('postern_edge_response_bytes_total', 'Body bytes relayed from the app to clients (WebSocket payload counted when the session ends)', 'counter', () =>
      this.each((socket, s) => (s.bytesOut > 0 ? [{ labels: { socket }, value: s.bytesOut }] : [])),
    );
  }

  /** One answered request; `seconds` is null for a WebSocket session (its length is not a latency). */
  add(socket: string, status: number, seconds: number | null, bytesIn: number, bytesOut: number): void {
    let s = this.sockets.get(socket);
    if (!s) this.sockets.set(socket, (s = { byClass: new Map(), buckets: new Array<number>(this.bounds.length + 1).fill(0), count: 0, sum: 0, bytesIn: 0, bytesOut: 0 }));
    const code = statusClass(status);
    s.byClass.set(code, (s.byClass.get(code) ?? 0) + 1);
    if (seconds !== null) {
      let i = 0;
      while (i < this.bounds.length && seconds > this.bounds[i]!) i++;
      s.buckets[i]!++;
      s.count++;
      s.sum += seconds;
    }
    s.bytesIn += bytesIn;
    s.bytesOut += bytesOut;
  }

  /** A deleted socket's series go, so the label set stays bounded by the sockets that exist. */
  forget(socket: string): void {
    this.sockets.delete(socket);
  }

  private each(values: (socket: string, s: SocketRequests) => Value[]): Value[] {
    const out: Value[] = [];
    for (const [socket, s] of this.sockets) out.push(...values(socket, s));
    return out;
  }

  private histogram(socket: string, s: SocketRequests): Value[] {
    if (s.count === 0) return [];
    const name = 'postern_edge_request_duration_seconds';
    const out: Value[] = [];
    let cumulative = 0;
    this.bounds.forEach((le, i) => {
      cumulative += s.buckets[i]!;
      out.push({ labels: { le, socket }, value: cumulative, metricName: `${name}_bucket` });
    });
    out.push({ labels: { le: '+Inf', socket }, value: s.count, metricName: `${name}_bucket` });
    out.push({ labels: { socket }, value: s.sum, metricName: `${name}_sum` });
    out.push({ labels: { socket }, value: s.count, metricName: `${name}_count` });
    return out;
  }
}
