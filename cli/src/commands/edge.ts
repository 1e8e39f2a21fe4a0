import type { Command } from 'commander';
import type { OidcInput, RateLimitsConfig } from '@postern/edge';
import { RATE_LIMIT_DEFAULTS, RATE_LIMIT_FLAGS } from '@postern/edge/client';
import { loadEdge } from '../load-edge.js';
import { out } from '../output.js';
import { onShutdown } from '../signals.js';

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

interface EdgeFlags {
  config?: string;
  listen?: string;
  domain?: string;
  db?: string;
  publicScheme?: string;
  upstreamTimeout?: string;
  maxHeaderBytes?: string;
  maxHeaderCount?: string;
  maxBodyBytes?: string;
  headerTimeout?: string;
  bodyIdleTimeout?: string;
  keepAliveTimeout?: string;
  maxStreamsPerConnection?: string;
  maxStreamsPerUser?: string;
  maxClientResets?: string;
  clientResetWindow?: string;
  tunnelMaxMessage?: string;
  logLevel?: string;
  oidcIssuer?: string[];
  oidcClientId?: string[];
  oidcClientSecretFile?: string[];
  oidcName?: string[];
  githubClientId?: string;
  githubClientSecretFile?: string;
  githubWebUrl?: string;
  githubApiUrl?: string;
  localAccounts?: boolean;
  sessionTtl?: string;
  sessionIdle?: string;
  rateLoginPerEmail?: string;
  rateLoginPerAddress?: string;
  rateSigninPerAddress?: string;
  rateDeviceCodePerAddress?: string;
  rateDeviceApprovePerSession?: string;
  rateApiPerAccount?: string;
  rateApiBadTokenPerAddress?: string;
  metricsListen?: string;
  tunnelPingInterval?: string;
  tunnelPingTimeout?: string;
  shutdownGrace?: string;
  tlsCert?: string;
  tlsKey?: string;
  httpRedirectListen?: string;
  hstsMaxAge?: string;
  trustedProxy?: string[];
  printConfig?: boolean;
}

/** What each rate limit counts, for --help (the flag names come from the edge config). */
const RATE_LIMIT_HELP: Readonly<Record<keyof RateLimitsConfig, string>> = {
  loginPerEmail: 'failed local-account sign-ins per email',
  loginPerAddress: 'failed local-account sign-ins per client address',
  signinPerAddress: 'sign-ins started per client address',
  deviceCodePerAddress: '"postern login" starts (POST /api/v1/device/code) per client address',
  deviceApprovePerSession: 'CLI sign-in codes entered at /device per browser session',
  apiPerAccount: 'API requests per account',
  apiBadTokenPerAddress: 'API requests with a missing or invalid token per client address',
};

const rateFlagKey = (name: keyof RateLimitsConfig) => `rate${name[0]!.toUpperCase()}${name.slice(1)}` as keyof EdgeFlags;

/** Repeated --oidc-* flags, matched by position: the n-th issuer takes the n-th client id, secret and name. */
function oidcFromFlags(opts: EdgeFlags): OidcInput[] | undefined {
  const issuers = opts.oidcIssuer ?? [];
  if (issuers.length === 0) return undefined;
  return issuers.map((issuer, i) => ({
    issuer,
    clientId: opts.oidcClientId?.[i],
    clientSecretFile: opts.oidcClientSecretFile?.[i],
    name: opts.oidcName?.[i],
  }));
}

export function registerEdge(program: Command): void {
  const command = program
    .command('edge')
    .description('run the edge: accepts connectors and serves their sockets (logs JSON to stdout)')
    .option('--listen <host:port>', 'address to listen on (default 127.0.0.1:8080)')
    .option('--domain <domain>', 'name browsers use for the edge; sockets are <name>.<domain> (default localhost:<port>)')
    .option('--db <file>', 'SQLite database file (default ./postern.db)')
    .option('--public-scheme <http|https>', 'scheme browsers use (https when TLS ends in front of the edge)')
    .option('--upstream-timeout <duration>', 'time the app has to answer before a 504 (default 60s)')
    .option('--max-header-bytes <n>', 'request headers above this get 431 (default 16384)')
    .option('--max-header-count <n>', 'requests with more header fields get 431 (default 100)')
    .option('--max-body-bytes <size>', "request bodies above this get 413, e.g. 50MiB; a socket may set its own (default 1GiB)")
    .option('--header-timeout <duration>', 'time to send the request headers before 408 (default 30s)')
    .option('--body-idle-timeout <duration>', 'a request body that stops arriving this long gets 408 (default 60s)')
    .option('--keep-alive-timeout <duration>', 'idle keep-alive connections close after this (default 65s)')
    .option('--max-streams-per-connection <n>', 'requests, WebSockets and TCP streams per tunnel connection; above it 503 (default 10000)')
    .option('--max-streams-per-user <n>', 'open requests and WebSockets per user or public client address and socket; above it 429 (default 256)')
    .option('--max-client-resets <n>', 'requests a client address may abort per --client-reset-window before 429 (default 100)')
    .option('--client-reset-window <duration>', 'window of --max-client-resets (default 10s)')
    .option('--tunnel-max-message <size>', "largest WebSocket message a connector may send (default 256KiB)")
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default info)')
    .option('--config <file>', 'YAML config file (flags and POSTERN_* env win over it)')
    .option('--oidc-issuer <url>', 'an OpenID Connect issuer (repeatable; redirect URI: <edge URL>/auth/callback)', collect)
    .option('--oidc-client-id <id>', 'client id at that issuer (repeatable, by position)', collect)
    .option('--oidc-client-secret-file <file>', 'file holding the client secret (repeatable, by position)', collect)
    .option('--oidc-name <name>', 'name on the login page, e.g. "Corp SSO" (repeatable, by position)', collect)
    .option('--github-client-id <id>', 'GitHub OAuth app client id')
    .option('--github-client-secret-file <file>', 'file holding the GitHub OAuth app secret')
    .option('--github-web-url <url>', 'GitHub Enterprise Server URL (default https://github.com)')
    .option('--github-api-url <url>', 'GitHub API URL (default https://api.github.com)')
    .option('--local-accounts', 'allow sign-in with local accounts (default: on only when no other provider is set)')
    .option('--no-local-accounts', 'never allow local-account sign-in')
    .option('--session-ttl <duration>', 'sessions end this long after sign-in (default 24h)')
    .option('--session-idle <duration>', 'sessions end after this long without a request (default 8h)');
  for (const [name, flag] of Object.entries(RATE_LIMIT_FLAGS) as [keyof RateLimitsConfig, string][]) {
    command.option(`${flag} <count/duration>`, `rate limit: ${RATE_LIMIT_HELP[name]} (default ${RATE_LIMIT_DEFAULTS[name]}; off to disable)`);
  }
  command
    .option('--metrics-listen <host:port>', 'serve /metrics, /healthz and /readyz on this separate address, e.g. 127.0.0.1:9464 (default: off)')
    .option('--tunnel-ping-interval <duration>', 'how often to ping each connector connection (default 10s)')
    .option('--tunnel-ping-timeout <duration>', 'drop a connector connection silent for this long (default 25s)')
    .option('--shutdown-grace <duration>', 'on SIGTERM, how long in-flight requests may finish (default 10s)')
    .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate chain (re-read on SIGHUP)')
    .option('--tls-key <file>', 'PEM private key of --tls-cert (re-read on SIGHUP)')
    .option('--http-redirect-listen <host:port>', 'also listen for plain HTTP and redirect the edge\'s names to https (308)')
    .option('--hsts-max-age <duration>', 'Strict-Transport-Security max-age on HTTPS answers (default 365d; 0 clears it in browsers)')
    .option('--trusted-proxy <cidrs>', 'proxies whose X-Forwarded-For/-Proto are believed, e.g. 127.0.0.1/32,::1 (repeatable)', collect)
    .option('--print-config', 'print the effective configuration (file, env and flags merged; secrets masked) and exit')
    .action(async (opts: EdgeFlags) => {
      const { edgeConfigFromEnv, edgeConfigFromFile, printConfig, resolveEdgeConfig, startEdge } = await loadEdge('edge');
      const config = resolveEdgeConfig(
        {
          listen: opts.listen,
          domain: opts.domain,
          db: opts.db,
          publicScheme: opts.publicScheme,
          upstreamTimeout: opts.upstreamTimeout,
          maxHeaderBytes: opts.maxHeaderBytes,
          maxHeaderCount: opts.maxHeaderCount,
          maxBodyBytes: opts.maxBodyBytes,
          headerTimeout: opts.headerTimeout,
          bodyIdleTimeout: opts.bodyIdleTimeout,
          keepAliveTimeout: opts.keepAliveTimeout,
          maxStreamsPerConnection: opts.maxStreamsPerConnection,
          maxStreamsPerUser: opts.maxStreamsPerUser,
          maxClientResets: opts.maxClientResets,
          clientResetWindow: opts.clientResetWindow,
          tunnelMaxMessage: opts.tunnelMaxMessage,
          logLevel: opts.logLevel,
          oidc: oidcFromFlags(opts),
          githubClientId: opts.githubClientId,
          githubClientSecretFile: opts.githubClientSecretFile,
          githubWebUrl: opts.githubWebUrl,
          githubApiUrl: opts.githubApiUrl,
          localAccounts: opts.localAccounts,
          sessionTtl: opts.sessionTtl,
          sessionIdle: opts.sessionIdle,
          rateLimits: Object.fromEntries(Object.keys(RATE_LIMIT_FLAGS).map((name) => [name, opts[rateFlagKey(name as keyof RateLimitsConfig)] as string | undefined])),
          metricsListen: opts.metricsListen,
          tunnelPingInterval: opts.tunnelPingInterval,
          tunnelPingTimeout: opts.tunnelPingTimeout,
          shutdownGrace: opts.shutdownGrace,
          tlsCert: opts.tlsCert,
          tlsKey: opts.tlsKey,
          httpRedirectListen: opts.httpRedirectListen,
          hstsMaxAge: opts.hstsMaxAge,
          trustedProxies: opts.trustedProxy?.join(','),
        },
        edgeConfigFromEnv(process.env),
        opts.config ? edgeConfigFromFile(opts.config) : {},
      );
      if (opts.printConfig) return out.raw(printConfig(config));
      const edge = await startEdge(config);
      // certbot/ACME deploy hooks send SIGHUP after a renewal (Node's default would end the process).
      process.on('SIGHUP', () => edge.reloadTls());
      await onShutdown(() => edge.close(config.shutdownGraceMs));
    });
}
