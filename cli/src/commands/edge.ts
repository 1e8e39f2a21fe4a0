import type { Command } from 'commander';
import type { RateLimitsConfig } from '@postern/edge';
import { RATE_LIMIT_DEFAULTS, RATE_LIMIT_FLAGS } from '@postern/edge/client';
import { loadEdge } from '../load-edge.js';
import { out } from '../output.js';
import { onShutdown } from '../signals.js';
import { collect, registerIdentityOptions, type IdentityFlags } from './edge-identity.js';

interface EdgeFlags extends IdentityFlags {
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
  maxConnectionsPerAddress?: string;
  firstByteTimeout?: string;
  maxConnections?: string;
  foreignIdentityHeaders?: string;
  logLevel?: string;
  rateLoginPerEmail?: string;
  rateLoginPerAddress?: string;
  rateSigninPerAddress?: string;
  rateDeviceCodePerAddress?: string;
  rateDeviceApprovePerSession?: string;
  rateApiPerAccount?: string;
  rateApiBadTokenPerAddress?: string;
  rateHandoffPerSession?: string;
  rateHandoffPerAddress?: string;
  rateBadTokenPerAddress?: string;
  metricsListen?: string;
  tunnelPingInterval?: string;
  tunnelPingTimeout?: string;
  shutdownGrace?: string;
  quickShareTimeout?: string;
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
  handoffPerSession: 'sign-ins handed to apps per login session',
  handoffPerAddress: 'sign-ins handed to apps per client address',
  badTokenPerAddress: 'requests to apps, tunnel and TCP handshakes with an invalid token per client address',
};

const rateFlagKey = (name: keyof RateLimitsConfig) => `rate${name[0]!.toUpperCase()}${name.slice(1)}` as keyof EdgeFlags;

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
    .option('--max-connections-per-address <n>', 'client connections open at once per address, trusted proxies exempt (default 256)')
    .option('--first-byte-timeout <duration>', 'close a connection that sent nothing for this long (default 10s)')
    .option('--max-connections <n>', 'connections accepted at once (default: the open-file limit less a reserve)')
    .option('--foreign-identity-headers <list>', 'other proxies\' identity headers stripped from requests; "default" is the built-in list, "none" nothing, * ends a prefix (default: default)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default info)')
    .option('--config <file>', 'YAML config file (flags and POSTERN_* env win over it)');
  const identityFlags = registerIdentityOptions(command);
  for (const [name, flag] of Object.entries(RATE_LIMIT_FLAGS) as [keyof RateLimitsConfig, string][]) {
    command.option(`${flag} <count/duration>`, `rate limit: ${RATE_LIMIT_HELP[name]} (default ${RATE_LIMIT_DEFAULTS[name]}; off to disable)`);
  }
  command
    .option('--metrics-listen <host:port>', 'serve /metrics, /healthz and /readyz on this separate address, e.g. 127.0.0.1:9464 (default: off)')
    .option('--tunnel-ping-interval <duration>', 'how often to ping each connector connection (default 10s)')
    .option('--tunnel-ping-timeout <duration>', 'drop a connector connection silent for this long (default 25s)')
    .option('--shutdown-grace <duration>', 'on SIGTERM, how long in-flight requests may finish (default 10s)')
    .option('--quick-share-timeout <duration>', 'remove a quick share whose connector has been gone this long (kill -9, a lost machine; default 5m)')
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
          maxConnectionsPerAddress: opts.maxConnectionsPerAddress,
          firstByteTimeout: opts.firstByteTimeout,
          maxConnections: opts.maxConnections,
          foreignIdentityHeaders: opts.foreignIdentityHeaders,
          logLevel: opts.logLevel,
          ...identityFlags(opts),
          rateLimits: Object.fromEntries(Object.keys(RATE_LIMIT_FLAGS).map((name) => [name, opts[rateFlagKey(name as keyof RateLimitsConfig)] as string | undefined])),
          metricsListen: opts.metricsListen,
          tunnelPingInterval: opts.tunnelPingInterval,
          tunnelPingTimeout: opts.tunnelPingTimeout,
          shutdownGrace: opts.shutdownGrace,
          quickShareTimeout: opts.quickShareTimeout,
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
      await onShutdown(() => edge.close(config.shutdownGraceMs), { hangup: false });
    });
}
