import { stringify } from 'yaml';
import { rateLimitYamlKey, type EdgeConfig, type Rate, type RateLimitsConfig } from './config.js';
import { formatByteSize } from './limits/size.js';

const MASK = '********';

/** `host:port`, with IPv6 hosts in brackets as --listen takes them. */
const hostPort = ({ host, port }: { host: string; port: number }): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

/** Durations as the config file writes them. */
function duration(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

const rate = (r: Rate | null): string => (r ? `${r.count}/${duration(r.windowMs)}` : 'off');

/**
 * The effective configuration (`postern edge --print-config`) in the YAML file's keys. Secrets are
 * never printed: a masked `client_secret` only says one was read.
 */
export function printConfig(config: EdgeConfig): string {
  const oidc = config.auth.providers.filter((p) => p.kind === 'oidc');
  const github = config.auth.providers.find((p) => p.kind === 'github');
  const doc = {
    listen: hostPort({ host: config.listenHost, port: config.listenPort }),
    domain: config.domain,
    public_scheme: config.publicScheme,
    db: config.dbPath,
    upstream_timeout: duration(config.upstreamTimeoutMs),
    max_header_bytes: config.maxHeaderBytes,
    max_header_count: config.limits.maxHeaderCount,
    max_body_bytes: formatByteSize(config.limits.maxBodyBytes),
    header_timeout: duration(config.limits.headerTimeoutMs),
    body_idle_timeout: duration(config.limits.bodyIdleTimeoutMs),
    keep_alive_timeout: duration(config.limits.keepAliveTimeoutMs),
    max_streams_per_connection: config.limits.maxStreamsPerConnection,
    max_streams_per_user: config.limits.maxStreamsPerUser,
    max_client_resets: config.limits.maxClientResets,
    client_reset_window: duration(config.limits.clientResetWindowMs),
    tunnel_max_message: formatByteSize(config.limits.tunnelMaxMessageBytes),
    log_level: config.logLevel,
    local_accounts: config.auth.localAccounts,
    session_ttl: duration(config.auth.sessionTtlMs),
    session_idle: duration(config.auth.sessionIdleMs),
    ...Object.fromEntries(Object.entries(config.rateLimits).map(([name, r]) => [rateLimitYamlKey(name as keyof RateLimitsConfig), rate(r)])),
    ...(config.metricsListen ? { metrics_listen: hostPort(config.metricsListen) } : {}),
    tunnel_ping_interval: duration(config.tunnelPingIntervalMs),
    tunnel_ping_timeout: duration(config.tunnelPingTimeoutMs),
    shutdown_grace: duration(config.shutdownGraceMs),
    quick_share_timeout: duration(config.quickShareTimeoutMs),
    ...(config.tls ? { tls_cert: config.tls.certFile, tls_key: config.tls.keyFile } : {}),
    ...(config.httpRedirect ? { http_redirect_listen: hostPort(config.httpRedirect) } : {}),
    hsts_max_age: config.hstsMaxAgeSeconds === 0 ? 0 : duration(config.hstsMaxAgeSeconds * 1000),
    trusted_proxies: config.trustedProxies.map((net) => `${net.address}/${net.prefix}`),
    ...(oidc.length > 0 ? { oidc: oidc.map((p) => ({ name: p.name, issuer: p.issuer, client_id: p.clientId, client_secret: MASK })) } : {}),
    ...(github
      ? {
          github_client_id: github.clientId,
          github_client_secret: MASK,
          ...(github.webUrl ? { github_web_url: github.webUrl } : {}),
          ...(github.apiUrl ? { github_api_url: github.apiUrl } : {}),
        }
      : {}),
  };
  return `# effective Postern edge configuration (secrets masked; redirect URI ${config.publicScheme}://${config.domain}/auth/callback)\n${stringify(doc)}`;
}
