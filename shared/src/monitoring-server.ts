import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';

const STATUS_CLASSES = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;
export type StatusClass = (typeof STATUS_CLASSES)[number];

/** The `code` label of a request metric: `2xx` for 204; anything outside 100-599 counts as 5xx. */
export function statusClass(status: number): StatusClass {
  return STATUS_CLASSES[Math.floor(status / 100) - 1] ?? '5xx';
}

/** Every status class, e.g. to drop all of a label's series. */
export const ALL_STATUS_CLASSES: readonly StatusClass[] = STATUS_CLASSES;

/** A probe's answer: healthy, or why not (shown to whoever polls it). */
export type ProbeResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

export interface MonitoringProbes {
  /** The Prometheus text exposition, rendered for each scrape. */
  readonly metrics: () => Promise<string>;
  readonly metricsContentType: string;
  /** Liveness (`/healthz`). */
  readonly live: () => ProbeResult;
  /** Readiness (`/readyz`): whether new work should be sent here. */
  readonly ready: () => ProbeResult | Promise<ProbeResult>;
}

export interface MonitoringServer {
  /** `http://host:port` it listens on (the port the kernel chose when 0 was asked). */
  readonly url: string;
  readonly port: number;
  close(): Promise<void>;
}

const json = (res: ServerResponse, status: number, body: unknown) => {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
  res.end(text);
};

/**
 * A plain HTTP listener with GET /metrics, /healthz and /readyz and nothing else: it has no routing
 * by Host, no sessions and no proxying, so it can sit on a private address away from public traffic.
 * Used by the edge (`--metrics-listen`) and the connector (`--metrics`).
 */
export function startMonitoringServer(host: string, port: number, probes: MonitoringProbes): Promise<MonitoringServer> {
  const server = createServer({ requestTimeout: 10_000, headersTimeout: 5_000, keepAliveTimeout: 5_000 }, (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-length': 0 });
      res.end();
      return;
    }
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz' || path === '/readyz') {
      Promise.resolve(path === '/healthz' ? probes.live() : probes.ready()).then(
        (result) => json(res, result.ok ? 200 : 503, result),
        (err: unknown) => json(res, 503, { ok: false, reason: `the probe failed: ${err instanceof Error ? err.message : String(err)}` }),
      );
      return;
    }
    if (path !== '/metrics') return json(res, 404, { ok: false, reason: 'only /metrics, /healthz and /readyz are served here' });
    probes.metrics().then(
      (text) => {
        res.writeHead(200, { 'content-type': probes.metricsContentType, 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
        res.end(text);
      },
      (err: Error) => json(res, 500, { ok: false, reason: `metrics failed: ${err.message}` }),
    );
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      const bound = typeof address === 'object' && address ? address.port : port;
      const authority = host.includes(':') ? `[${host}]:${bound}` : `${host}:${bound}`;
      resolve({
        url: `http://${authority}`,
        port: bound,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
