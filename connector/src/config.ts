/** What a connector needs. The local target comes only from here: the edge never chooses it. */
export interface ConnectorConfig {
  /**
   * Edge base URLs, http(s):// or ws(s)://, at least one: edges of one cluster (or one name in front
   * of them). The connections are spread over them; peers the edges announce are added.
   */
  readonly edgeUrls: readonly string[];
  readonly token: string;
  readonly socketId: string;
  /** The tunnel of that socket this connector serves (`tunnel create`), if any. */
  readonly tunnelId?: string | undefined;
  /** Ask the edge for one EVENT per finished request (the live view); off costs the edge nothing. */
  readonly requestEvents?: boolean | undefined;
  readonly target: { readonly host: string; readonly port: number };
  /** Parallel tunnel connections to the edge (≥ 1; 2 by default for failover). */
  readonly connections: number;
  /** Host header the app should see instead of the public one (e.g. `localhost:8888` for Jupyter). */
  readonly hostRewrite?: string | undefined;
  /** How long in-flight streams may run after a stop before they are cut. */
  readonly graceMs: number;
  /** Identifies this connector process to the edge (logs, draining). */
  readonly connectorId: string;
  /** How often each tunnel connection pings the edge (default 10 s, see MuxSession). */
  readonly pingIntervalMs?: number;
  /** A tunnel connection with nothing received for this long is dead and redialed (default 25 s). */
  readonly deadAfterMs?: number;
  /** How often a connection away from its own edge tries to go back (default RETURN_PROBE_MS, 30 s). */
  readonly returnProbeMs?: number;
}

export const DEFAULT_CONNECTIONS = 2;
export const DEFAULT_GRACE_MS = 30_000;

/** The tunnel endpoint URL for an edge base URL. */
export function tunnelUrl(edgeUrl: string, path: string): URL {
  const url = new URL(path, edgeUrl);
  if (url.protocol === 'http:') url.protocol = 'ws:';
  else if (url.protocol === 'https:') url.protocol = 'wss:';
  if (url.protocol !== 'ws:' && url.protocol !== 'wss:') {
    throw new Error(`the edge URL must start with http://, https://, ws:// or wss://, not "${edgeUrl}"`);
  }
  return url;
}
