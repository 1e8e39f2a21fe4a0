import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { DEFAULT_MAX_STREAMS } from '@postern/shared';
import { parse as parseYaml } from 'yaml';
import { ConfigError, parseDuration } from './config-values.js';
import { IDENTITY_YAML_KEYS, identityFromEnv, oidcFromYaml, resolveAuth, type AuthConfig, type IdentityInput } from './config-identity.js';
import { parseByteSize } from './limits/size.js';
import { defaultMaxConnections } from './net/fd-limit.js';
import { DEFAULT_FOREIGN_IDENTITY_HEADERS } from './proxy/foreign-identity.js';
import { RATE_LIMIT_DEFAULTS, RATE_LIMIT_FLAGS } from './rate-limit-flags.js';

export { RATE_LIMIT_DEFAULTS, RATE_LIMIT_FLAGS };

export { ConfigError } from './config-values.js';
export type { AuthConfig, IdentityInput, OidcInput, ProviderConfig } from './config-identity.js';

/** Edge settings after validation. Built once, frozen, then only read. */
export interface EdgeConfig {
  readonly listenHost: string;
  readonly listenPort: number;
  /** The authority browsers use for the edge, e.g. `localhost:8080` or `edge.example.com`. */
  readonly domain: string;
  /** `http` or `https`: how browsers reach the edge (TLS may be terminated in front of it). */
  readonly publicScheme: 'http' | 'https';
  readonly dbPath: string;
  /** Time the app has to send response headers before the edge answers 504. */
  readonly upstreamTimeoutMs: number;
  /** Request headers above this size get 431. */
  readonly maxHeaderBytes: number;
  readonly logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  readonly auth: AuthConfig;
  readonly rateLimits: RateLimitsConfig;
  /** Where /metrics, /healthz and /readyz are served; off (undefined) unless asked for. */
  readonly metricsListen: { readonly host: string; readonly port: number } | undefined;
  /** How often the edge pings each tunnel connection. */
  readonly tunnelPingIntervalMs: number;
  /** A tunnel connection with nothing received for this long is dead: it is dropped. */
  readonly tunnelPingTimeoutMs: number;
  /** On SIGTERM, how long in-flight requests may run before the edge closes everything. */
  readonly shutdownGraceMs: number;
  /** A quick share whose connector has been gone this long is removed (control/reaper.ts). */
  readonly quickShareTimeoutMs: number;
  readonly limits: LimitsConfig;
  /** The edge serves HTTPS itself with these PEM files (re-read on SIGHUP); undefined: plain HTTP. */
  readonly tls: TlsFiles | undefined;
  /** A plain-HTTP listener that redirects the edge's own names to https (308). */
  readonly httpRedirect: { readonly host: string; readonly port: number } | undefined;
  /** Strict-Transport-Security max-age in seconds, sent on HTTPS answers; 0 tells browsers to forget it. */
  readonly hstsMaxAgeSeconds: number;
  /** Peers (CIDRs) whose X-Forwarded-For and X-Forwarded-Proto are believed; empty: nobody's. */
  readonly trustedProxies: readonly TrustedNetwork[];
  /**
   * Identity headers other proxies set (Remote-User, X-WEBAUTH-USER, oauth2-proxy's, Pomerium's...):
   * apps configured to trust them must never get them from a client. Lower-case; `*` ends a prefix.
   */
  readonly foreignIdentityHeaders: readonly string[];
}

/** One `--trusted-proxy` entry, validated. */
export interface TrustedNetwork {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

export interface TlsFiles {
  /** PEM certificate chain: the edge's certificate first, then intermediates. */
  readonly certFile: string;
  readonly keyFile: string;
}

/** `count` hits per `windowMs`, refilled evenly (a token bucket); null turns the limit off. */
export interface Rate {
  readonly count: number;
  readonly windowMs: number;
}

/** Per-key rate limits of the sign-in flows and the API (what each key is: the field name says). */
export interface RateLimitsConfig {
  /** Failed local-account sign-ins per target email (one account's password guessed). */
  readonly loginPerEmail: Rate | null;
  /** Failed local-account sign-ins per client address (credential stuffing). */
  readonly loginPerAddress: Rate | null;
  /** Sign-ins started (`/auth/start/…`, each a row in SQLite) per client address. */
  readonly signinPerAddress: Rate | null;
  /** `POST /api/v1/device/code` (unauthenticated, each a row in SQLite) per client address. */
  readonly deviceCodePerAddress: Rate | null;
  /** `POST /device` (approving or denying a CLI sign-in) per login session. */
  readonly deviceApprovePerSession: Rate | null;
  /** Authenticated API requests per account. */
  readonly apiPerAccount: Rate | null;
  /** API requests with a missing, unknown, expired or revoked token per client address. */
  readonly apiBadTokenPerAddress: Rate | null;
  /** Sign-ins handed to socket hosts (each a code and a session row in SQLite) per login session. */
  readonly handoffPerSession: Rate | null;
  /** The same per client address. */
  readonly handoffPerAddress: Rate | null;
  /** Requests to socket hosts, tunnel handshakes and TCP streams with an unknown, expired or revoked token per client address. */
  readonly badTokenPerAddress: Rate | null;
}

const RATE_LIMIT_NAMES = Object.keys(RATE_LIMIT_FLAGS) as (keyof RateLimitsConfig)[];
/** `--rate-login-per-email` → `rate_login_per_email` (YAML) and `POSTERN_RATE_LOGIN_PER_EMAIL` (env). */
export const rateLimitYamlKey = (name: keyof RateLimitsConfig): string => RATE_LIMIT_FLAGS[name].slice(2).replaceAll('-', '_');

/** What one client, user or connector may use of the edge (README, "Limits"). */
export interface LimitsConfig {
  /** Requests with more header fields get 431 (Node would silently drop the extra ones). */
  readonly maxHeaderCount: number;
  /** Request bodies above this get 413, unless the socket sets its own limit. */
  readonly maxBodyBytes: number;
  /** Time a client has to send the request head before 408. */
  readonly headerTimeoutMs: number;
  /** A request body that stops arriving for this long gets 408 (or its stream reset). */
  readonly bodyIdleTimeoutMs: number;
  /** An idle keep-alive connection is closed after this long. */
  readonly keepAliveTimeoutMs: number;
  /** Requests, WebSockets and TCP streams open at once on one tunnel connection; above it 503. */
  readonly maxStreamsPerConnection: number;
  /** Requests and WebSockets open at once per user (signed-in socket) or client address (public one); above it 429. */
  readonly maxStreamsPerUser: number;
  /** Requests a client address may abort before their answer, per `clientResetWindowMs`; above it 429. */
  readonly maxClientResets: number;
  readonly clientResetWindowMs: number;
  /** Largest WebSocket message a connector may send on its tunnel. */
  readonly tunnelMaxMessageBytes: number;
  /** Client connections open at once from one address (trusted proxies exempt); more are closed at once. */
  readonly maxConnectionsPerAddress: number;
  /** A connection that sent not one byte for this long is closed (pre-connections, idle floods). */
  readonly firstByteTimeoutMs: number;
  /** Connections the listener accepts at once: below the process's file limit, so the edge keeps working. */
  readonly maxConnections: number;
}

/** Smallest tunnel message limit: the writer sends up to 64 KiB of payload plus frame headers per message. */
const MIN_TUNNEL_MESSAGE = 128 * 1024;

export interface EdgeConfigInput extends IdentityInput {
  readonly listen?: string | undefined;
  readonly domain?: string | undefined;
  readonly db?: string | undefined;
  readonly publicScheme?: string | undefined;
  readonly upstreamTimeout?: string | number | undefined;
  readonly maxHeaderBytes?: string | number | undefined;
  readonly maxHeaderCount?: string | number | undefined;
  readonly maxBodyBytes?: string | number | undefined;
  readonly headerTimeout?: string | number | undefined;
  readonly bodyIdleTimeout?: string | number | undefined;
  readonly keepAliveTimeout?: string | number | undefined;
  readonly maxStreamsPerConnection?: string | number | undefined;
  readonly maxStreamsPerUser?: string | number | undefined;
  readonly maxClientResets?: string | number | undefined;
  readonly clientResetWindow?: string | number | undefined;
  readonly tunnelMaxMessage?: string | number | undefined;
  readonly maxConnectionsPerAddress?: string | number | undefined;
  readonly firstByteTimeout?: string | number | undefined;
  readonly maxConnections?: string | number | undefined;
  /** Comma-separated names (flags, env) or a YAML list; `default` stands for the built-in list. */
  readonly foreignIdentityHeaders?: string | readonly string[] | undefined;
  readonly logLevel?: string | undefined;
  readonly rateLimits?: { readonly [K in keyof RateLimitsConfig]?: string | undefined } | undefined;
  readonly metricsListen?: string | undefined;
  readonly tunnelPingInterval?: string | number | undefined;
  readonly tunnelPingTimeout?: string | number | undefined;
  readonly shutdownGrace?: string | number | undefined;
  readonly quickShareTimeout?: string | number | undefined;
  readonly tlsCert?: string | undefined;
  readonly tlsKey?: string | undefined;
  readonly httpRedirectListen?: string | undefined;
  readonly hstsMaxAge?: string | number | undefined;
  /** Comma-separated CIDRs (flags, env) or a YAML list. */
  readonly trustedProxies?: string | readonly string[] | undefined;
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * How long a quick share may stay without a connector (default 5 minutes): well above a connector's
 * reconnect delays (at most 30 s between attempts), so one that is only reconnecting keeps its name,
 * and short enough that abandoned ones do not pile up. Tests use a second or two.
 */
function parseQuickShareTimeout(value: string | number | undefined): number {
  const ms = parseDuration(value ?? '5m', '--quick-share-timeout');
  if (ms < 1000) throw new ConfigError(`--quick-share-timeout must be at least 1s, not "${value}"`);
  return ms;
}

/** Reads POSTERN_* variables: the only place the edge looks at the environment. */
export function edgeConfigFromEnv(env: NodeJS.ProcessEnv): EdgeConfigInput {
  return {
    listen: env.POSTERN_LISTEN,
    domain: env.POSTERN_DOMAIN,
    db: env.POSTERN_DB,
    publicScheme: env.POSTERN_PUBLIC_SCHEME,
    upstreamTimeout: env.POSTERN_UPSTREAM_TIMEOUT,
    maxHeaderBytes: env.POSTERN_MAX_HEADER_BYTES,
    maxHeaderCount: env.POSTERN_MAX_HEADER_COUNT,
    maxBodyBytes: env.POSTERN_MAX_BODY_BYTES,
    headerTimeout: env.POSTERN_HEADER_TIMEOUT,
    bodyIdleTimeout: env.POSTERN_BODY_IDLE_TIMEOUT,
    keepAliveTimeout: env.POSTERN_KEEP_ALIVE_TIMEOUT,
    maxStreamsPerConnection: env.POSTERN_MAX_STREAMS_PER_CONNECTION,
    maxStreamsPerUser: env.POSTERN_MAX_STREAMS_PER_USER,
    maxClientResets: env.POSTERN_MAX_CLIENT_RESETS,
    clientResetWindow: env.POSTERN_CLIENT_RESET_WINDOW,
    tunnelMaxMessage: env.POSTERN_TUNNEL_MAX_MESSAGE,
    maxConnectionsPerAddress: env.POSTERN_MAX_CONNECTIONS_PER_ADDRESS,
    firstByteTimeout: env.POSTERN_FIRST_BYTE_TIMEOUT,
    maxConnections: env.POSTERN_MAX_CONNECTIONS,
    foreignIdentityHeaders: env.POSTERN_FOREIGN_IDENTITY_HEADERS,
    logLevel: env.POSTERN_LOG_LEVEL,
    ...identityFromEnv(env),
    rateLimits: Object.fromEntries(RATE_LIMIT_NAMES.map((name) => [name, env[`POSTERN_${rateLimitYamlKey(name).toUpperCase()}`]])),
    metricsListen: env.POSTERN_METRICS_LISTEN,
    quickShareTimeout: env.POSTERN_QUICK_SHARE_TIMEOUT,
    tlsCert: env.POSTERN_TLS_CERT,
    tlsKey: env.POSTERN_TLS_KEY,
    httpRedirectListen: env.POSTERN_HTTP_REDIRECT_LISTEN,
    hstsMaxAge: env.POSTERN_HSTS_MAX_AGE,
    trustedProxies: env.POSTERN_TRUSTED_PROXIES,
  };
}

const YAML_KEYS: Readonly<Record<string, keyof EdgeConfigInput>> = {
  listen: 'listen',
  domain: 'domain',
  db: 'db',
  public_scheme: 'publicScheme',
  upstream_timeout: 'upstreamTimeout',
  max_header_bytes: 'maxHeaderBytes',
  max_header_count: 'maxHeaderCount',
  max_body_bytes: 'maxBodyBytes',
  header_timeout: 'headerTimeout',
  body_idle_timeout: 'bodyIdleTimeout',
  keep_alive_timeout: 'keepAliveTimeout',
  max_streams_per_connection: 'maxStreamsPerConnection',
  max_streams_per_user: 'maxStreamsPerUser',
  max_client_resets: 'maxClientResets',
  client_reset_window: 'clientResetWindow',
  tunnel_max_message: 'tunnelMaxMessage',
  max_connections_per_address: 'maxConnectionsPerAddress',
  first_byte_timeout: 'firstByteTimeout',
  max_connections: 'maxConnections',
  foreign_identity_headers: 'foreignIdentityHeaders',
  log_level: 'logLevel',
  oidc: 'oidc',
  ...IDENTITY_YAML_KEYS,
  metrics_listen: 'metricsListen',
  tunnel_ping_interval: 'tunnelPingInterval',
  tunnel_ping_timeout: 'tunnelPingTimeout',
  shutdown_grace: 'shutdownGrace',
  quick_share_timeout: 'quickShareTimeout',
  tls_cert: 'tlsCert',
  tls_key: 'tlsKey',
  http_redirect_listen: 'httpRedirectListen',
  hsts_max_age: 'hstsMaxAge',
  trusted_proxies: 'trustedProxies',
};
const RATE_LIMIT_YAML_KEYS: Readonly<Record<string, keyof RateLimitsConfig>> = Object.fromEntries(RATE_LIMIT_NAMES.map((name) => [rateLimitYamlKey(name), name]));

/** Reads the edge's YAML config file (snake_case keys; `oidc` is a list of issuers). */
export function edgeConfigFromFile(path: string): EdgeConfigInput {
  let doc: unknown;
  try {
    doc = parseYaml(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== 'object' || Array.isArray(doc)) throw new ConfigError(`config file ${path} must be a YAML mapping`);
  const out: Record<string, unknown> = {};
  const rateLimits: Record<string, string> = {};
  for (const [key, value] of Object.entries(doc)) {
    const rateLimit = RATE_LIMIT_YAML_KEYS[key];
    if (rateLimit) {
      rateLimits[rateLimit] = String(value);
      continue;
    }
    const target = YAML_KEYS[key];
    if (!target) throw new ConfigError(`config file ${path}: unknown key "${key}" (known: ${[...Object.keys(YAML_KEYS), ...Object.keys(RATE_LIMIT_YAML_KEYS)].join(', ')})`);
    if (target === 'oidc') {
      out.oidc = oidcFromYaml(value, path);
    } else {
      out[target] = value;
    }
  }
  out.rateLimits = rateLimits;
  return out as EdgeConfigInput;
}

/** Defaults, then the config file, then environment, then flags (flags win); validated once with precise messages. */
export function resolveEdgeConfig(flags: EdgeConfigInput, env: EdgeConfigInput = {}, file: EdgeConfigInput = {}): EdgeConfig {
  const pick = <K extends keyof EdgeConfigInput>(key: K): EdgeConfigInput[K] => flags[key] ?? env[key] ?? file[key];
  const { host, port } = parseListen(pick('listen') ?? '127.0.0.1:8080');
  const domain = parseDomain(pick('domain') ?? `localhost:${port}`);
  const tls = resolveTls(pick('tlsCert'), pick('tlsKey'));
  const scheme = pick('publicScheme') ?? (tls ? 'https' : 'http');
  if (scheme !== 'http' && scheme !== 'https') throw new ConfigError(`--public-scheme must be http or https, not "${scheme}"`);
  if (tls && scheme === 'http') throw new ConfigError('--public-scheme http contradicts --tls-cert: an edge that serves TLS is reached with https');
  const redirectListen = pick('httpRedirectListen');
  const httpRedirect = redirectListen === undefined ? undefined : parseListen(redirectListen, '--http-redirect-listen');
  if (httpRedirect && scheme !== 'https') throw new ConfigError('--http-redirect-listen needs an https edge (--tls-cert, or --public-scheme https behind a TLS proxy)');
  const logLevel = pick('logLevel') ?? 'info';
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(`--log-level must be one of ${LOG_LEVELS.join(', ')}, not "${logLevel}"`);
  }
  return Object.freeze({
    listenHost: host,
    listenPort: port,
    domain,
    publicScheme: scheme,
    dbPath: pick('db') ?? './postern.db',
    upstreamTimeoutMs: parseDuration(pick('upstreamTimeout') ?? 60_000, '--upstream-timeout'),
    maxHeaderBytes: parsePositiveInt(pick('maxHeaderBytes') ?? 16 * 1024, '--max-header-bytes'),
    logLevel: logLevel as EdgeConfig['logLevel'],
    auth: resolveAuth(pick),
    rateLimits: resolveRateLimits(flags, env, file),
    metricsListen: resolveMetricsListen(pick('metricsListen'), port),
    ...resolveTunnelPing(pick),
    shutdownGraceMs: parseDuration(pick('shutdownGrace') ?? '10s', '--shutdown-grace'),
    quickShareTimeoutMs: parseQuickShareTimeout(pick('quickShareTimeout')),
    limits: resolveLimits(pick),
    tls,
    httpRedirect,
    hstsMaxAgeSeconds: parseHstsMaxAge(pick('hstsMaxAge') ?? '365d'),
    trustedProxies: parseTrustedProxies(pick('trustedProxies') ?? []),
    foreignIdentityHeaders: parseForeignIdentityHeaders(pick('foreignIdentityHeaders') ?? DEFAULT_FOREIGN_IDENTITY_HEADERS),
  });
}

function resolveTls(certFile: string | undefined, keyFile: string | undefined): TlsFiles | undefined {
  if (!certFile && !keyFile) return undefined;
  if (!certFile) throw new ConfigError('--tls-key needs --tls-cert (the PEM certificate chain)');
  if (!keyFile) throw new ConfigError('--tls-cert needs --tls-key (the PEM private key)');
  return Object.freeze({ certFile, keyFile });
}

/** Seconds; `0` is allowed: it is how a site tells browsers to drop an HSTS policy. */
function parseHstsMaxAge(value: string | number): number {
  if (value === 0 || value === '0') return 0;
  return Math.floor(parseDuration(value, '--hsts-max-age') / 1000);
}

/** CIDRs such as `10.0.0.0/8`, `::1` or `127.0.0.1/32` (a bare address is a single host). */
function parseTrustedProxies(value: string | readonly string[]): TrustedNetwork[] {
  const entries = (Array.isArray(value) ? value : String(value).split(',')).map((entry: unknown) => String(entry).trim()).filter(Boolean);
  return entries.map((entry) => {
    const [address = '', bits, extra] = entry.split('/');
    const family = isIP(address);
    const max = family === 6 ? 128 : 32;
    const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
    if (family === 0 || extra !== undefined || !(prefix >= 0 && prefix <= max)) {
      throw new ConfigError(`--trusted-proxy must list IP addresses or CIDRs (e.g. 127.0.0.1/32, 10.0.0.0/8, ::1), not "${entry}"`);
    }
    return Object.freeze({ address, prefix, family: family === 6 ? 'ipv6' : 'ipv4' } as const);
  });
}

/**
 * `--foreign-identity-headers`: names (in any case, `_` read as `-`), a trailing `*` for a prefix;
 * `default` stands for the built-in list (so `default,X-Corp-User` extends it), `none` for nothing.
 */
function parseForeignIdentityHeaders(value: string | readonly string[]): string[] {
  const entries = (Array.isArray(value) ? value : String(value).split(',')).map((entry: unknown) => String(entry).trim().toLowerCase().replace(/_/g, '-')).filter(Boolean);
  const names = new Set<string>();
  for (const entry of entries) {
    if (entry === 'none') continue;
    if (entry === 'default') {
      for (const name of DEFAULT_FOREIGN_IDENTITY_HEADERS) names.add(name);
      continue;
    }
    if (!/^[a-z0-9-]+\*?$/.test(entry)) {
      throw new ConfigError(`--foreign-identity-headers must list header names (a trailing * for a prefix), "default" or "none", not "${entry}"`);
    }
    names.add(entry);
  }
  return [...names];
}

/** Each limit on its own: a flag for one limit does not hide the file's value for another. */
function resolveRateLimits(flags: EdgeConfigInput, env: EdgeConfigInput, file: EdgeConfigInput): RateLimitsConfig {
  const resolved = Object.fromEntries(
    RATE_LIMIT_NAMES.map((name) => {
      const value = flags.rateLimits?.[name] ?? env.rateLimits?.[name] ?? file.rateLimits?.[name] ?? RATE_LIMIT_DEFAULTS[name];
      return [name, parseRate(value, RATE_LIMIT_FLAGS[name])];
    }),
  );
  return Object.freeze(resolved as Record<keyof RateLimitsConfig, Rate | null>);
}

/** The monitoring listener must be a port of its own: it never shares the public one. */
function resolveMetricsListen(value: string | undefined, port: number): EdgeConfig['metricsListen'] {
  if (value === undefined) return undefined;
  const metrics = parseListen(value, '--metrics-listen');
  if (metrics.port !== 0 && metrics.port === port) {
    throw new ConfigError(`--metrics-listen needs a port of its own, not the edge's port ${port}: metrics stay off the public listener`);
  }
  return metrics;
}

/** Ping defaults: every 10 s, dead after 25 s of silence (two and a half missed answers). */
function resolveTunnelPing(pick: Pick): { tunnelPingIntervalMs: number; tunnelPingTimeoutMs: number } {
  const tunnelPingIntervalMs = parseDuration(pick('tunnelPingInterval') ?? '10s', '--tunnel-ping-interval');
  const tunnelPingTimeoutMs = parseDuration(pick('tunnelPingTimeout') ?? '25s', '--tunnel-ping-timeout');
  if (tunnelPingTimeoutMs <= tunnelPingIntervalMs) {
    throw new ConfigError('--tunnel-ping-timeout must be longer than --tunnel-ping-interval (a link is dead after missing more than one ping)');
  }
  return { tunnelPingIntervalMs, tunnelPingTimeoutMs };
}

const KiB = 1024;
const GiB = 1024 ** 3;

function resolveLimits(pick: Pick): LimitsConfig {
  const streamsPerConnection = parsePositiveInt(pick('maxStreamsPerConnection') ?? 10_000, '--max-streams-per-connection');
  // A connector's session accepts DEFAULT_MAX_STREAMS; the edge must not open more than that.
  if (streamsPerConnection > DEFAULT_MAX_STREAMS) {
    throw new ConfigError(`--max-streams-per-connection must be at most ${DEFAULT_MAX_STREAMS} (what a connector accepts), not ${streamsPerConnection}`);
  }
  const tunnelMaxMessage = parseSize(pick('tunnelMaxMessage') ?? 256 * KiB, '--tunnel-max-message');
  if (tunnelMaxMessage < MIN_TUNNEL_MESSAGE || tunnelMaxMessage > 64 * 1024 * KiB) {
    throw new ConfigError(`--tunnel-max-message must be from 128KiB to 64MiB (connectors send messages of up to 64 KiB plus frame headers), not "${pick('tunnelMaxMessage')}"`);
  }
  return {
    maxHeaderCount: parsePositiveInt(pick('maxHeaderCount') ?? 100, '--max-header-count'),
    maxBodyBytes: parseSize(pick('maxBodyBytes') ?? GiB, '--max-body-bytes'),
    headerTimeoutMs: parseDuration(pick('headerTimeout') ?? '30s', '--header-timeout'),
    bodyIdleTimeoutMs: parseDuration(pick('bodyIdleTimeout') ?? '60s', '--body-idle-timeout'),
    keepAliveTimeoutMs: parseDuration(pick('keepAliveTimeout') ?? '65s', '--keep-alive-timeout'),
    maxStreamsPerConnection: streamsPerConnection,
    maxStreamsPerUser: parsePositiveInt(pick('maxStreamsPerUser') ?? 256, '--max-streams-per-user'),
    maxClientResets: parsePositiveInt(pick('maxClientResets') ?? 100, '--max-client-resets'),
    clientResetWindowMs: parseDuration(pick('clientResetWindow') ?? '10s', '--client-reset-window'),
    tunnelMaxMessageBytes: tunnelMaxMessage,
    maxConnectionsPerAddress: parsePositiveInt(pick('maxConnectionsPerAddress') ?? 256, '--max-connections-per-address'),
    firstByteTimeoutMs: parseDuration(pick('firstByteTimeout') ?? '10s', '--first-byte-timeout'),
    maxConnections: parsePositiveInt(pick('maxConnections') ?? defaultMaxConnections(), '--max-connections'),
  };
}

type Pick = <K extends keyof EdgeConfigInput>(key: K) => EdgeConfigInput[K];

export function parseListen(value: string, flag = '--listen'): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:]+)\]|([^:\s]+)):(\d{1,5})$/.exec(value) ?? /^()()(\d{1,5})$/.exec(value);
  if (!match) throw new ConfigError(`${flag} must be HOST:PORT (e.g. 127.0.0.1:8080), not "${value}"`);
  const host = match[1] || match[2] || '127.0.0.1';
  const port = Number(match[3]);
  if (port > 65535) throw new ConfigError(`${flag} port must be 0-65535, not ${port}`);
  if (match[1] && isIP(host) !== 6) throw new ConfigError(`${flag} has an invalid IPv6 address "${host}"`);
  return { host, port };
}

/** The edge domain: a lower-case DNS name with an optional port, no scheme, no path. */
export function parseDomain(value: string): string {
  const domain = value.trim().toLowerCase().replace(/\.$/, '');
  if (!/^(?=.{1,253}(?::\d{1,5})?$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*(?::\d{1,5})?$/.test(domain)) {
    throw new ConfigError(`--domain must be a DNS name with an optional port (e.g. localhost:8080 or edge.example.com), not "${value}"`);
  }
  return domain;
}

/** `10/1m`, `600/1m`, `5/30s`: a count per duration; `off` turns the limit off. */
export function parseRate(value: string, flag: string): Rate | null {
  const text = value.trim();
  if (text === 'off') return null;
  const match = /^(\d+)\s*\/\s*(\S+)$/.exec(text);
  if (!match) throw new ConfigError(`${flag} must be COUNT/DURATION such as 10/1m or 600/1m, or off, not "${value}"`);
  return { count: parsePositiveInt(match[1]!, `${flag} count`), windowMs: parseDuration(match[2]!, `${flag} window`) };
}

function parsePositiveInt(value: string | number, flag: string): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new ConfigError(`${flag} must be a positive whole number, not "${value}"`);
  return n;
}

function parseSize(value: string | number, flag: string): number {
  const bytes = parseByteSize(value);
  if (bytes === undefined || bytes <= 0) throw new ConfigError(`${flag} must be a size such as 1048576, 512KiB, 50MiB or 1GiB, not "${value}"`);
  return bytes;
}
