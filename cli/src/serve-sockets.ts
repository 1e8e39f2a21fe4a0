import { randomUUID } from 'node:crypto';
import { connect as tcpConnect } from 'node:net';
import { Connector, type ConnectorMetrics, type Target } from '@postern/connector';
import type { SocketView } from '@postern/edge';
import { ConnectView } from './connect-view.js';
import type { ConfigChange } from './config-sockets.js';
import type { RunningInspector } from './inspect-options.js';
import { onShutdown } from './signals.js';

/** One socket a `connect` serves, and where its streams go. */
export interface ServedSocket {
  readonly socket: SocketView;
  /** The tunnel of that socket to connect as, if any. */
  readonly tunnelId: string | undefined;
  readonly target: Target;
  readonly hostRewrite: string | undefined;
  /** What `connect --config` did to it before serving (shown on its ready line). */
  readonly change?: ConfigChange;
}

export interface ServeSettings {
  readonly edgeUrls: readonly string[];
  readonly token: string;
  readonly connections: number;
  readonly graceMs: number;
  readonly pingIntervalMs: number;
  readonly deadAfterMs: number;
  readonly json: boolean;
  readonly quiet: boolean;
  /** Several sockets: every line names its socket. */
  readonly labelled: boolean;
  readonly metrics: ConnectorMetrics | undefined;
  readonly inspector: RunningInspector | undefined;
}

/** Resolves whether something accepts TCP connections on host:port (a courtesy check, not a gate). */
function probe({ host, port }: Target): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = tcpConnect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(1000, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

const label = ({ host, port }: Target): string => `${host.includes(':') ? `[${host}]` : host}:${port}`;

/**
 * Serves `served` sockets until a stop signal (drained within the grace period) or a problem that
 * retrying cannot fix, which stops them all: one Connector, with its own tunnel connections, per
 * socket (docs/PROTOCOL.md, "One connector, several sockets"), and one live view. Resolves with
 * what ended it (the fatal error's message, or null after a stop) and the views, for the last lines.
 */
export async function serveSockets(served: readonly ServedSocket[], settings: ServeSettings): Promise<{ failure: string | null; views: ConnectView[] }> {
  const { metrics, inspector } = settings;
  const running = served.map((s) => {
    const connector = new Connector(
      {
        edgeUrls: settings.edgeUrls,
        token: settings.token,
        socketId: s.socket.id,
        tunnelId: s.tunnelId,
        target: s.target,
        connections: settings.connections,
        hostRewrite: s.hostRewrite,
        // Request counts come from the edge's request events.
        requestEvents: !settings.quiet || metrics !== undefined,
        graceMs: settings.graceMs,
        pingIntervalMs: settings.pingIntervalMs,
        deadAfterMs: settings.deadAfterMs,
        connectorId: randomUUID(),
      },
      metrics,
      s.socket.protocol === 'http' ? inspector?.observe(s.socket, s.target) : undefined,
    );
    metrics?.watch(connector);
    const view = new ConnectView(s.socket, label(s.target), {
      json: settings.json,
      quiet: settings.quiet,
      inspectUrl: inspector?.server.url,
      change: s.change,
      edges: settings.edgeUrls,
      ...(settings.labelled ? { label: s.socket.name } : {}),
    });
    connector.on('ready', async (hello, edge) => {
      view.ready(hello.connectionId, edge);
      if (!(await probe(s.target))) view.nothingListening();
    });
    connector.on('connection', (event) => view.connection(event));
    connector.on('request', (entry) => view.request(entry));
    return { connector, view, name: s.socket.name };
  });
  const fatal = new Promise<string>((resolve) => {
    for (const { connector, name } of running) connector.once('fatal', (err) => resolve(settings.labelled ? `${name}: ${err.message}` : err.message));
  });
  const stopAll = (graceMs: number) => Promise.all(running.map(({ connector }) => connector.stop(graceMs)));
  for (const { connector } of running) connector.start();

  const failure = await Promise.race([
    fatal,
    onShutdown(async () => {
      running[0]!.view.stopping(settings.graceMs);
      await stopAll(settings.graceMs);
    }).then(() => null),
  ]);
  if (failure) await stopAll(0); // the others go too: the file is served whole or not at all
  return { failure, views: running.map((r) => r.view) };
}
