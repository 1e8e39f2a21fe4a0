import { ConfigError, type Rate, type RawValue, type TrustedNetwork } from './config-values.js';
import { isSource, settingsFromEnv, settingsFromFile, settingsFromInput, type SettingsInput, type SettingsSource } from './config-sources.js';
import { resolveAuth, resolveIssuer, type AuthConfig, type NameOf } from './config-identity.js';
import type { SettingNames } from './setting.js';
import { isPostgresUrl } from './store/sql/target.js';
import { EDGE_SETTING_ROWS, type EdgeSettingKey, type EdgeSettings } from './settings.js';

export { ConfigError } from './config-values.js';
export type { Rate, TrustedNetwork } from './config-values.js';
export type { SettingsInput as EdgeConfigInput, OidcInput, SettingsSource } from './config-sources.js';
export type { AuthConfig, ProviderConfig } from './config-identity.js';

/** Edge settings after validation. Built once, frozen, then only read. */
export interface EdgeConfig {
  readonly listenHost: string;
  readonly listenPort: number;
  /** The authority browsers use for the edge, e.g. `localhost:8080` or `edge.example.com`. */
  readonly domain: string;
  /** `http` or `https`: how browsers reach the edge (TLS may be terminated in front of it). */
  readonly publicScheme: 'http' | 'https';
  /** A PostgreSQL URL (several edges) or a SQLite file (`--store`, or `--db`). */
  readonly store: string;
  /** Set with a PostgreSQL store: how this edge and its peers know each other (docs/SCALING.md). */
  readonly cluster: ClusterConfig | undefined;
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
  /** While the database does not answer, cached sessions and tokens keep working this long after the outage began (auth/outage-grace.ts). */
  readonly storeOutageGraceMs: number;
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
  /** Every setting as the table parsed it: what `--print-config` prints. */
  readonly settings: EdgeSettings;
}

export interface ClusterConfig {
  /** The HMAC key of the edge-to-edge link. */
  readonly secret: string;
  /** Where the other edges reach this one. */
  readonly advertiseUrl: string;
}

export interface TlsFiles {
  /** PEM certificate chain: the edge's certificate first, then intermediates. */
  readonly certFile: string;
  readonly keyFile: string;
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


/** Reads POSTERN_* variables: the only place the edge looks at the environment. */
export const edgeConfigFromEnv = settingsFromEnv;
/** Reads the edge's YAML config file (snake_case keys; `oidc` is a list of issuers). */
export const edgeConfigFromFile = settingsFromFile;

const ROWS = new Map(EDGE_SETTING_ROWS.map((row) => [row.key, row]));
const rowOf = (key: EdgeSettingKey): SettingNames => ROWS.get(key)!;

/**
 * Every setting through its row's parser: from the flags, else the environment, else the file,
 * else the row's default (flags win). Only the value that wins is read. The OIDC issuers come as one
 * list from the first source that names any.
 */
function resolveSettings(sources: readonly SettingsSource[]): { settings: EdgeSettings; name: NameOf } {
  const from = new Map<string, SettingsSource>();
  const settings: Record<string, unknown> = {};
  const issuers = sources.find((source) => source.oidc !== undefined);
  settings.oidc = Object.freeze((issuers?.oidc ?? []).map((entry, i) => resolveIssuer(entry, (setting) => issuers!.issuerName(setting, i))));
  const parse = (row: (typeof EDGE_SETTING_ROWS)[number], fallback: string | undefined) => {
    const source = sources.find((s) => s.values[row.key] !== undefined);
    const raw: RawValue | undefined = source ? source.values[row.key] : fallback;
    if (source) from.set(row.key, source);
    settings[row.key] = raw === undefined ? undefined : row.value.parse(raw, (source ?? sources[0]!).name(row));
  };
  for (const row of EDGE_SETTING_ROWS) if (typeof row.default !== 'function') parse(row, row.default);
  const providers = (settings.oidc as unknown[]).length + ['googleClientId', 'githubClientId', 'facebookClientId'].filter((key) => settings[key] !== undefined).length;
  for (const row of EDGE_SETTING_ROWS) if (typeof row.default === 'function') parse(row, row.default({ settings, providers }));
  const name: NameOf = (key, partner) => (from.get(key) ?? (partner && from.get(partner)) ?? sources[0]!).name(rowOf(key));
  return { settings: settings as EdgeSettings, name };
}

/** Freezes `value` and everything it holds, so the running edge can only read its configuration. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}

/** `--store` and `--db` name one store; PostgreSQL needs the cluster's secret and this edge's address, SQLite neither. */
function resolveCluster(s: EdgeSettings, name: NameOf): ClusterConfig | undefined {
  if (s.db !== undefined && s.db !== s.store) {
    throw new ConfigError(`${name('db', 'store')} and ${name('store', 'db')} name different stores: give one (${name('db', 'store')} FILE is ${name('store', 'db')} FILE)`);
  }
  if (!isPostgresUrl(s.store)) {
    const stray = s.clusterSecretFile !== undefined ? 'clusterSecretFile' : s.advertise !== undefined ? 'advertise' : undefined;
    if (stray) throw new ConfigError(`${name(stray, 'store')} needs a PostgreSQL ${name('store', stray)}: an edge on a SQLite file has no peers`);
    return undefined;
  }
  if (s.clusterSecretFile === undefined) {
    throw new ConfigError(`${name('store', 'clusterSecretFile')} on PostgreSQL needs ${name('clusterSecretFile', 'store')} (the secret edges authenticate each other with)`);
  }
  if (s.advertise === undefined) {
    throw new ConfigError(`${name('store', 'advertise')} on PostgreSQL needs ${name('advertise', 'store')} (where the other edges reach this one)`);
  }
  return { secret: s.clusterSecretFile.secret, advertiseUrl: s.advertise };
}

/**
 * The edge's configuration from its flags (or a program's settings), POSTERN_* variables and YAML
 * file: defaults < file < env < flags. Validated once with messages that name each setting as its
 * source does; the result is deeply frozen.
 */
export function resolveEdgeConfig(flags: SettingsInput | SettingsSource = {}, env: SettingsInput | SettingsSource = {}, file: SettingsInput | SettingsSource = {}): EdgeConfig {
  const sources = [flags, env, file].map((source) => (isSource(source) ? source : settingsFromInput(source)));
  const { settings: s, name } = resolveSettings(sources);
  const tls = s.tlsCert === undefined && s.tlsKey === undefined ? undefined : { certFile: s.tlsCert, keyFile: s.tlsKey };
  if (tls && !tls.certFile) throw new ConfigError(`${name('tlsKey', 'tlsCert')} needs ${name('tlsCert', 'tlsKey')} (the PEM certificate chain)`);
  if (tls && !tls.keyFile) throw new ConfigError(`${name('tlsCert', 'tlsKey')} needs ${name('tlsKey', 'tlsCert')} (the PEM private key)`);
  if (tls && s.publicScheme === 'http') throw new ConfigError(`${name('publicScheme', 'tlsCert')} http contradicts ${name('tlsCert', 'publicScheme')}: an edge that serves TLS is reached with https`);
  if (s.httpRedirectListen && s.publicScheme !== 'https') {
    throw new ConfigError(`${name('httpRedirectListen', 'publicScheme')} needs an https edge (${name('tlsCert', 'httpRedirectListen')}, or ${name('publicScheme', 'httpRedirectListen')} https behind a TLS proxy)`);
  }
  // The monitoring listener must be a port of its own: it never shares the public one.
  if (s.metricsListen && s.metricsListen.port !== 0 && s.metricsListen.port === s.listen.port) {
    throw new ConfigError(`${name('metricsListen', 'listen')} needs a port of its own, not the edge's port ${s.listen.port}: metrics stay off the public listener`);
  }
  if (s.tunnelPingTimeout <= s.tunnelPingInterval) {
    throw new ConfigError(`${name('tunnelPingTimeout', 'tunnelPingInterval')} must be longer than ${name('tunnelPingInterval', 'tunnelPingTimeout')} (a link is dead after missing more than one ping)`);
  }
  return deepFreeze({
    listenHost: s.listen.host,
    listenPort: s.listen.port,
    domain: s.domain,
    publicScheme: s.publicScheme,
    store: s.store,
    cluster: resolveCluster(s, name),
    upstreamTimeoutMs: s.upstreamTimeout,
    maxHeaderBytes: s.maxHeaderBytes,
    logLevel: s.logLevel,
    auth: resolveAuth(s, name),
    rateLimits: {
      loginPerEmail: s.rateLoginPerEmail,
      loginPerAddress: s.rateLoginPerAddress,
      signinPerAddress: s.rateSigninPerAddress,
      deviceCodePerAddress: s.rateDeviceCodePerAddress,
      deviceApprovePerSession: s.rateDeviceApprovePerSession,
      apiPerAccount: s.rateApiPerAccount,
      apiBadTokenPerAddress: s.rateApiBadTokenPerAddress,
      handoffPerSession: s.rateHandoffPerSession,
      handoffPerAddress: s.rateHandoffPerAddress,
      badTokenPerAddress: s.rateBadTokenPerAddress,
    },
    metricsListen: s.metricsListen,
    tunnelPingIntervalMs: s.tunnelPingInterval,
    tunnelPingTimeoutMs: s.tunnelPingTimeout,
    shutdownGraceMs: s.shutdownGrace,
    quickShareTimeoutMs: s.quickShareTimeout,
    storeOutageGraceMs: s.storeOutageGrace,
    limits: {
      maxHeaderCount: s.maxHeaderCount,
      maxBodyBytes: s.maxBodyBytes,
      headerTimeoutMs: s.headerTimeout,
      bodyIdleTimeoutMs: s.bodyIdleTimeout,
      keepAliveTimeoutMs: s.keepAliveTimeout,
      maxStreamsPerConnection: s.maxStreamsPerConnection,
      maxStreamsPerUser: s.maxStreamsPerUser,
      maxClientResets: s.maxClientResets,
      clientResetWindowMs: s.clientResetWindow,
      tunnelMaxMessageBytes: s.tunnelMaxMessage,
      maxConnectionsPerAddress: s.maxConnectionsPerAddress,
      firstByteTimeoutMs: s.firstByteTimeout,
      maxConnections: s.maxConnections,
    },
    tls: tls as TlsFiles | undefined,
    httpRedirect: s.httpRedirectListen,
    hstsMaxAgeSeconds: s.hstsMaxAge,
    trustedProxies: s.trustedProxies,
    foreignIdentityHeaders: s.foreignIdentityHeaders,
    settings: s,
  });
}
