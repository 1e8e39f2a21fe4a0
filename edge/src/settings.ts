import { DEFAULT_MAX_STREAMS } from '@postern/shared';
import { cidrs, ConfigError, count, domain, duration, items, listen, oneOf, rate, secondsOrZero, size, text, type ValueType } from './config-values.js';
import { defaultMaxConnections } from './net/fd-limit.js';
import { DEFAULT_FOREIGN_IDENTITY_HEADERS } from './proxy/foreign-identity.js';
import { rowsOf, setting, type SettingRow, type SettingSpec } from './setting.js';
import { CLUSTER_SETTINGS } from './settings-cluster.js';
import { IDENTITY_SETTINGS, OIDC_SETTINGS, type IssuerKind, type OidcSettingSpec, type SecretFile } from './settings-identity.js';

/**
 * The edge's settings, declared once. `postern edge`'s options, the POSTERN_* reader, the YAML
 * reader, `--print-config` and the README's settings table are all made from this table, and
 * every value goes through its row's parser whichever source it came from (config-sources.ts,
 * config.ts). Client-safe: the CLI builds its options from it without loading the edge.
 */

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/**
 * `--foreign-identity-headers`: names (in any case, `_` read as `-`), a trailing `*` for a prefix;
 * `default` stands for the built-in list (so `default,X-Corp-User` extends it), `none` for nothing.
 */
const headerNames: ValueType<readonly string[]> = {
  metavar: '<list>',
  parse: (raw, name) => {
    const entries = items(raw, /,/).map((entry) => entry.toLowerCase().replace(/_/g, '-'));
    const names = new Set<string>();
    for (const entry of entries) {
      if (entry === 'none') continue;
      if (entry === 'default') {
        for (const header of DEFAULT_FOREIGN_IDENTITY_HEADERS) names.add(header);
      } else if (/^[a-z0-9-]+\*?$/.test(entry)) {
        names.add(entry);
      } else {
        throw new ConfigError(`${name} must list header names (a trailing * for a prefix), "default" or "none", not ${JSON.stringify(entry)}`);
      }
    }
    return Object.freeze([...names]);
  },
  // An empty list would read back as "not set" (the default): `none` says it.
  format: (names) => (names.length === 0 ? 'none' : [...names]),
};

const KiB = 1024;

const rateLimit = (fallback: string, counts: string) =>
  setting({ value: rate, group: 'rate limits', default: fallback, help: `rate limit: ${counts} (off to disable)` });

export const EDGE_SETTINGS = {
  listen: setting({ value: listen, group: 'edge', default: '127.0.0.1:8080', help: 'address to listen on' }),
  domain: setting({
    value: domain,
    group: 'edge',
    default: ({ settings }) => `localhost:${(settings.listen as { port: number }).port}`,
    defaultHelp: 'localhost:<port>',
    help: 'name browsers use for the edge; sockets are <name>.<domain>',
  }),
  db: setting({ value: text('<file>'), group: 'edge', defaultHelp: './postern.db', help: 'SQLite database file (the same as --store FILE)' }),
  ...CLUSTER_SETTINGS,
  publicScheme: setting({
    value: oneOf(['http', 'https']),
    group: 'edge',
    default: ({ settings }) => (settings.tlsCert ? 'https' : 'http'),
    defaultHelp: 'https with --tls-cert, else http',
    help: 'scheme browsers use (https when TLS ends in front of the edge)',
  }),
  upstreamTimeout: setting({ value: duration(), group: 'limits', default: '60s', help: 'time the app has to answer before a 504' }),
  maxHeaderBytes: setting({ value: count(), group: 'limits', default: '16384', help: 'request headers above this get 431' }),
  maxHeaderCount: setting({ value: count(), group: 'limits', default: '100', help: 'requests with more header fields get 431' }),
  maxBodyBytes: setting({ value: size(), group: 'limits', default: '1GiB', help: 'request bodies above this get 413, e.g. 50MiB; a socket may set its own' }),
  headerTimeout: setting({ value: duration(), group: 'limits', default: '30s', help: 'time to send the request headers before 408' }),
  bodyIdleTimeout: setting({ value: duration(), group: 'limits', default: '60s', help: 'a request body that stops arriving this long gets 408' }),
  keepAliveTimeout: setting({ value: duration(), group: 'limits', default: '65s', help: 'idle keep-alive connections close after this' }),
  maxStreamsPerConnection: setting({
    value: count(DEFAULT_MAX_STREAMS, ' (what a connector accepts)'),
    group: 'limits',
    default: '10000',
    help: 'requests, WebSockets and TCP streams per tunnel connection; above it 503',
  }),
  maxStreamsPerUser: setting({ value: count(), group: 'limits', default: '256', help: 'open requests and WebSockets per user or public client address and socket; above it 429' }),
  maxClientResets: setting({ value: count(), group: 'limits', default: '100', help: 'requests a client address may abort per --client-reset-window before 429' }),
  clientResetWindow: setting({ value: duration(), group: 'limits', default: '10s', help: 'window of --max-client-resets' }),
  tunnelMaxMessage: setting({
    // Connectors send up to 64 KiB of payload plus frame headers per message.
    value: size(128 * KiB, 64 * 1024 * KiB, ' (connectors send messages of up to 64 KiB plus frame headers)'),
    group: 'limits',
    default: '256KiB',
    help: 'largest WebSocket message a connector may send',
  }),
  maxConnectionsPerAddress: setting({ value: count(), group: 'limits', default: '256', help: 'client connections open at once per address, trusted proxies exempt' }),
  firstByteTimeout: setting({ value: duration(), group: 'limits', default: '10s', help: 'close a connection that sent nothing for this long' }),
  maxConnections: setting({
    value: count(),
    group: 'limits',
    default: () => String(defaultMaxConnections()),
    defaultHelp: 'the open-file limit less a reserve',
    help: 'connections accepted at once',
  }),
  foreignIdentityHeaders: setting({
    value: headerNames,
    group: 'edge',
    default: 'default',
    help: 'other proxies\' identity headers stripped from requests; "default" is the built-in list, "none" nothing, * ends a prefix',
  }),
  logLevel: setting({ value: oneOf(LOG_LEVELS), group: 'edge', default: 'info', help: LOG_LEVELS.join(', ') }),
  ...IDENTITY_SETTINGS,
  rateLoginPerEmail: rateLimit('10/1m', 'failed local-account sign-ins per email'),
  rateLoginPerAddress: rateLimit('30/1m', 'failed local-account sign-ins per client address'),
  rateSigninPerAddress: rateLimit('120/1m', 'sign-ins started per client address'),
  rateDeviceCodePerAddress: rateLimit('20/1m', '"postern login" starts (POST /api/v1/device/code) per client address'),
  rateDeviceApprovePerSession: rateLimit('30/1m', 'CLI sign-in codes entered at /device per browser session'),
  rateApiPerAccount: rateLimit('600/1m', 'API requests per account'),
  rateApiBadTokenPerAddress: rateLimit('60/1m', 'API requests with a missing or invalid token per client address'),
  rateHandoffPerSession: rateLimit('60/1m', 'sign-ins handed to apps per login session'),
  rateHandoffPerAddress: rateLimit('600/1m', 'sign-ins handed to apps per client address'),
  rateBadTokenPerAddress: rateLimit('60/1m', 'requests to apps, tunnel and TCP handshakes with an invalid token per client address'),
  metricsListen: setting({
    value: listen,
    group: 'monitoring',
    defaultHelp: 'off',
    help: 'serve /metrics, /healthz and /readyz on this separate address, e.g. 127.0.0.1:9464',
  }),
  // Pings every 10 s, dead after 25 s of silence: two and a half missed answers.
  tunnelPingInterval: setting({ value: duration(), group: 'tunnels', default: '10s', help: 'how often to ping each connector connection' }),
  tunnelPingTimeout: setting({ value: duration(), group: 'tunnels', default: '25s', help: 'drop a connector connection silent for this long' }),
  shutdownGrace: setting({ value: duration(), group: 'tunnels', default: '10s', help: 'on SIGTERM, how long in-flight requests may finish' }),
  // Well above a connector's reconnect delays (at most 30 s apart), so one that is only reconnecting
  // keeps its name, and short enough that abandoned ones do not pile up. Tests use a second or two.
  quickShareTimeout: setting({
    value: duration(1000),
    group: 'tunnels',
    default: '5m',
    help: 'remove a quick share whose connector has been gone this long (kill -9, a lost machine)',
  }),
  // Long enough to ride out a database restart or failover; short enough that a revocation the edge
  // could not hear (the change feed is down with the database) stops working soon (docs/SECURITY.md).
  storeOutageGrace: setting({
    value: duration(),
    group: 'edge',
    default: '5m',
    help: "while the database does not answer, sessions and tokens the edge has cached keep working this long; everything else gets 503",
  }),
  tlsCert: setting({ value: text('<file>'), group: 'tls', help: 'serve HTTPS with this PEM certificate chain (re-read on SIGHUP)' }),
  tlsKey: setting({ value: text('<file>'), group: 'tls', secret: true, help: 'PEM private key of --tls-cert (re-read on SIGHUP)' }),
  httpRedirectListen: setting({ value: listen, group: 'tls', help: "also listen for plain HTTP and redirect the edge's names to https (308)" }),
  hstsMaxAge: setting({ value: secondsOrZero, group: 'tls', default: '365d', help: 'Strict-Transport-Security max-age on HTTPS answers (0 clears it in browsers)' }),
  trustedProxies: setting({
    value: cidrs,
    group: 'tls',
    flag: '--trusted-proxy',
    repeatable: true,
    default: '',
    defaultHelp: 'none',
    help: 'proxies whose X-Forwarded-For/-Proto are believed, e.g. 127.0.0.1/32,::1',
  }),
} as const;

export type EdgeSettingKey = keyof typeof EDGE_SETTINGS;

type ValueOf<S> = S extends SettingSpec<infer T> ? T : never;
type Resolved<Table> = { readonly [K in keyof Table]: Table[K] extends { readonly default: unknown } ? ValueOf<Table[K]> : ValueOf<Table[K]> | undefined };

/** One OIDC issuer's settings as resolved: config-identity.ts fills the ones that follow from others and checks the required ones. */
export type OidcSettings = Resolved<typeof OIDC_SETTINGS> & {
  readonly issuer: string;
  readonly kind: IssuerKind;
  readonly name: string;
  readonly tenants: readonly string[];
  readonly clientId: string;
  readonly clientSecretFile: SecretFile;
};

/** Every setting's typed value, as the edge runs with it and `--print-config` prints it. */
export type EdgeSettings = Resolved<typeof EDGE_SETTINGS> & { readonly oidc: readonly OidcSettings[] };

export const EDGE_SETTING_ROWS: readonly SettingRow[] = rowsOf<SettingSpec<unknown>>(EDGE_SETTINGS);
export const OIDC_SETTING_ROWS: readonly SettingRow<OidcSettingSpec<unknown>>[] = rowsOf<OidcSettingSpec<unknown>>(OIDC_SETTINGS, '--oidc-', 'POSTERN_OIDC_');
