import { stringify } from 'yaml';
import { rateLimitYamlKey, type EdgeConfig, type Rate, type RateLimitsConfig } from './config.js';
import { GOOGLE_DIRECTORY_URL, GOOGLE_ISSUER, type AuthConfig, type OidcProviderConfig } from './config-identity.js';
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

/** The providers in the YAML file's keys (each issuer's knobs only where they differ from the default). */
function identity(auth: AuthConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const oidc = auth.providers.filter((p): p is OidcProviderConfig => p.kind === 'oidc' || p.kind === 'entra');
  if (oidc.length > 0) {
    out.oidc = oidc.map((p) => ({
      name: p.name,
      issuer: p.issuer,
      client_id: p.clientId,
      client_secret: MASK,
      ...(p.kind === 'entra' ? { kind: p.kind, tenants: p.tenants } : {}),
      ...(p.emailClaim !== 'email' ? { email_claim: p.emailClaim } : {}),
      ...(p.groupsClaim !== 'groups' ? { groups_claim: p.groupsClaim } : {}),
      ...(p.scopes.length > 0 ? { scopes: p.scopes } : {}),
      ...(p.trustEmail ? { trust_email: true } : {}),
      ...(p.requireMfa ? { require_mfa: true } : {}),
      ...(p.idTokenAlg !== 'RS256' ? { id_token_alg: p.idTokenAlg } : {}),
      ...(p.rpLogout ? { rp_logout: true } : {}),
    }));
  }
  for (const p of auth.providers) {
    if (p.kind === 'google') {
      Object.assign(out, {
        google_client_id: p.clientId,
        google_client_secret: MASK,
        ...(p.issuer !== GOOGLE_ISSUER ? { google_issuer: p.issuer } : {}),
        ...(p.hostedDomain ? { google_hosted_domain: p.hostedDomain } : {}),
        ...(p.directory
          ? {
              google_directory_credentials_file: p.directory.serviceAccount.file,
              google_directory_admin: p.directory.admin,
              ...(p.directory.apiUrl !== GOOGLE_DIRECTORY_URL ? { google_directory_url: p.directory.apiUrl } : {}),
            }
          : {}),
      });
    } else if (p.kind === 'github') {
      Object.assign(out, { github_client_id: p.clientId, github_client_secret: MASK, ...(p.webUrl ? { github_web_url: p.webUrl } : {}), ...(p.apiUrl ? { github_api_url: p.apiUrl } : {}) });
    } else if (p.kind === 'facebook') {
      Object.assign(out, { facebook_client_id: p.clientId, facebook_client_secret: MASK, ...(p.webUrl ? { facebook_web_url: p.webUrl } : {}), ...(p.graphUrl ? { facebook_graph_url: p.graphUrl } : {}) });
    }
  }
  return out;
}

const rate = (r: Rate | null): string => (r ? `${r.count}/${duration(r.windowMs)}` : 'off');

/**
 * The effective configuration (`postern edge --print-config`) in the YAML file's keys. Secrets are
 * never printed: a masked `client_secret` only says one was read.
 */
export function printConfig(config: EdgeConfig): string {
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
    max_connections_per_address: config.limits.maxConnectionsPerAddress,
    first_byte_timeout: duration(config.limits.firstByteTimeoutMs),
    max_connections: config.limits.maxConnections,
    log_level: config.logLevel,
    local_accounts: config.auth.localAccounts,
    session_ttl: duration(config.auth.sessionTtlMs),
    session_idle: duration(config.auth.sessionIdleMs),
    session_revalidate: duration(config.auth.sessionRevalidateMs),
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
    foreign_identity_headers: [...config.foreignIdentityHeaders],
    ...identity(config.auth),
  };
  const edgeUrl = `${config.publicScheme}://${config.domain}`;
  return `# effective Postern edge configuration (secrets masked; redirect URI ${edgeUrl}/auth/callback, back-channel logout URI ${edgeUrl}/auth/backchannel-logout)\n${stringify(doc)}`;
}
