import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { DEFAULT_MAX_STREAMS } from '@postern/shared';
import { parse as parseYaml } from 'yaml';
import { parseByteSize } from './limits/size.js';
import { RATE_LIMIT_DEFAULTS, RATE_LIMIT_FLAGS } from './rate-limit-flags.js';

export { RATE_LIMIT_DEFAULTS, RATE_LIMIT_FLAGS };

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
  readonly limits: LimitsConfig;
  /** The edge serves HTTPS itself with these PEM files (re-read on SIGHUP); undefined: plain HTTP. */
  readonly tls: TlsFiles | undefined;
  /** A plain-HTTP listener that redirects the edge's own names to https (308). */
  readonly httpRedirect: { readonly host: string; readonly port: number } | undefined;
  /** Strict-Transport-Security max-age in seconds, sent on HTTPS answers; 0 tells browsers to forget it. */
  readonly hstsMaxAgeSeconds: number;
  /** Peers (CIDRs) whose X-Forwarded-For and X-Forwarded-Proto are believed; empty: nobody's. */
  readonly trustedProxies: readonly TrustedNetwork[];
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
}

/** Smallest tunnel message limit: the writer sends up to 64 KiB of payload plus frame headers per message. */
const MIN_TUNNEL_MESSAGE = 128 * 1024;

export type ProviderConfig =
  | {
      readonly kind: 'oidc';
      readonly id: string;
      readonly name: string;
      readonly issuer: string;
      readonly clientId: string;
      readonly clientSecret: string;
    }
  | {
      readonly kind: 'github';
      readonly id: 'github';
      readonly name: string;
      readonly clientId: string;
      readonly clientSecret: string;
      readonly webUrl: string | undefined;
      readonly apiUrl: string | undefined;
    };

export interface AuthConfig {
  /** Redirect providers (OIDC issuers, GitHub), in the order the login page lists them. */
  readonly providers: readonly ProviderConfig[];
  /** Local accounts (passwords in SQLite): on by default only when no other provider is set. */
  readonly localAccounts: boolean;
  readonly sessionTtlMs: number;
  readonly sessionIdleMs: number;
}

/** One OIDC issuer as given in flags (repeatable, matched by position) or in the YAML list. */
export interface OidcInput {
  readonly issuer?: string | undefined;
  readonly clientId?: string | undefined;
  readonly clientSecretFile?: string | undefined;
  readonly name?: string | undefined;
}

export interface EdgeConfigInput {
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
  readonly logLevel?: string | undefined;
  readonly oidc?: readonly OidcInput[] | undefined;
  readonly githubClientId?: string | undefined;
  readonly githubClientSecretFile?: string | undefined;
  readonly githubWebUrl?: string | undefined;
  readonly githubApiUrl?: string | undefined;
  readonly localAccounts?: boolean | undefined;
  readonly sessionTtl?: string | number | undefined;
  readonly sessionIdle?: string | number | undefined;
  readonly rateLimits?: { readonly [K in keyof RateLimitsConfig]?: string | undefined } | undefined;
  readonly metricsListen?: string | undefined;
  readonly tunnelPingInterval?: string | number | undefined;
  readonly tunnelPingTimeout?: string | number | undefined;
  readonly shutdownGrace?: string | number | undefined;
  readonly tlsCert?: string | undefined;
  readonly tlsKey?: string | undefined;
  readonly httpRedirectListen?: string | undefined;
  readonly hstsMaxAge?: string | number | undefined;
  /** Comma-separated CIDRs (flags, env) or a YAML list. */
  readonly trustedProxies?: string | readonly string[] | undefined;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

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
    logLevel: env.POSTERN_LOG_LEVEL,
    oidc: env.POSTERN_OIDC_ISSUER
      ? [{ issuer: env.POSTERN_OIDC_ISSUER, clientId: env.POSTERN_OIDC_CLIENT_ID, clientSecretFile: env.POSTERN_OIDC_CLIENT_SECRET_FILE, name: env.POSTERN_OIDC_NAME }]
      : undefined,
    githubClientId: env.POSTERN_GITHUB_CLIENT_ID,
    githubClientSecretFile: env.POSTERN_GITHUB_CLIENT_SECRET_FILE,
    sessionTtl: env.POSTERN_SESSION_TTL,
    sessionIdle: env.POSTERN_SESSION_IDLE,
    rateLimits: Object.fromEntries(RATE_LIMIT_NAMES.map((name) => [name, env[`POSTERN_${rateLimitYamlKey(name).toUpperCase()}`]])),
    metricsListen: env.POSTERN_METRICS_LISTEN,
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
  log_level: 'logLevel',
  oidc: 'oidc',
  github_client_id: 'githubClientId',
  github_client_secret_file: 'githubClientSecretFile',
  github_web_url: 'githubWebUrl',
  github_api_url: 'githubApiUrl',
  local_accounts: 'localAccounts',
  session_ttl: 'sessionTtl',
  session_idle: 'sessionIdle',
  metrics_listen: 'metricsListen',
  tunnel_ping_interval: 'tunnelPingInterval',
  tunnel_ping_timeout: 'tunnelPingTimeout',
  shutdown_grace: 'shutdownGrace',
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
      if (!Array.isArray(value)) throw new ConfigError(`config file ${path}: "oidc" must be a list of {issuer, client_id, client_secret_file, name}`);
      out.oidc = value.map((item: Record<string, string>) => ({ issuer: item.issuer, clientId: item.client_id, clientSecretFile: item.client_secret_file, name: item.name }));
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
    limits: resolveLimits(pick),
    tls,
    httpRedirect,
    hstsMaxAgeSeconds: parseHstsMaxAge(pick('hstsMaxAge') ?? '365d'),
    trustedProxies: parseTrustedProxies(pick('trustedProxies') ?? []),
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
  };
}

type Pick = <K extends keyof EdgeConfigInput>(key: K) => EdgeConfigInput[K];

function readSecret(path: string | undefined, flag: string): string {
  if (!path) throw new ConfigError(`${flag} is required (a file holding the client secret)`);
  let secret: string;
  try {
    secret = readFileSync(path, 'utf8').trim();
  } catch (err) {
    throw new ConfigError(`cannot read ${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  if (!secret) throw new ConfigError(`${flag} ${path} is empty`);
  return secret;
}

const slug = (s: string): string => s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 32) || 'oidc';

function resolveAuth(pick: Pick): AuthConfig {
  const providers: ProviderConfig[] = [];
  const ids = new Set<string>();
  for (const [i, oidc] of (pick('oidc') ?? []).entries()) {
    const n = i + 1;
    if (!oidc.issuer) throw new ConfigError(`OIDC provider ${n}: --oidc-issuer is required`);
    let issuer: URL;
    try {
      issuer = new URL(oidc.issuer);
    } catch {
      throw new ConfigError(`--oidc-issuer must be a URL, not "${oidc.issuer}"`);
    }
    if (!oidc.clientId) throw new ConfigError(`OIDC provider ${oidc.issuer}: --oidc-client-id is required`);
    const name = oidc.name ?? issuer.hostname;
    let id = slug(oidc.name ?? issuer.hostname);
    for (let k = 2; ids.has(id); k++) id = `${slug(name)}-${k}`;
    ids.add(id);
    providers.push({
      kind: 'oidc',
      id,
      name,
      issuer: oidc.issuer,
      clientId: oidc.clientId,
      clientSecret: readSecret(oidc.clientSecretFile, '--oidc-client-secret-file'),
    });
  }
  const githubClientId = pick('githubClientId');
  if (githubClientId) {
    providers.push({
      kind: 'github',
      id: 'github',
      name: 'GitHub',
      clientId: githubClientId,
      clientSecret: readSecret(pick('githubClientSecretFile'), '--github-client-secret-file'),
      webUrl: pick('githubWebUrl'),
      apiUrl: pick('githubApiUrl'),
    });
  } else if (pick('githubClientSecretFile')) {
    throw new ConfigError('--github-client-secret-file needs --github-client-id');
  }
  return {
    providers,
    localAccounts: pick('localAccounts') ?? providers.length === 0,
    sessionTtlMs: parseDuration(pick('sessionTtl') ?? '24h', '--session-ttl'),
    sessionIdleMs: parseDuration(pick('sessionIdle') ?? '8h', '--session-idle'),
  };
}

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

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

function parseDuration(value: string | number, flag: string): number {
  if (typeof value === 'number') return value;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim());
  if (!match) throw new ConfigError(`${flag} must be a duration such as 30s, 500ms, 2m, 8h or 7d, not "${value}"`);
  const n = Number(match[1]);
  const ms = n * UNIT_MS[match[2] ?? 's']!;
  if (ms <= 0) throw new ConfigError(`${flag} must be greater than zero`);
  return Math.round(ms);
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
