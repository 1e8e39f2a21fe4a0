import type { Command } from 'commander';
import { edgeConfigFromEnv, edgeConfigFromFile, printConfig, resolveEdgeConfig, startEdge, type OidcInput } from '@postern/edge';
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
  tlsCert?: string;
  tlsKey?: string;
  httpRedirectListen?: string;
  hstsMaxAge?: string;
  trustedProxy?: string[];
  printConfig?: boolean;
}

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
  program
    .command('edge')
    .description('run the edge: accepts connectors and serves their sockets (logs JSON to stdout)')
    .option('--listen <host:port>', 'address to listen on (default 127.0.0.1:8080)')
    .option('--domain <domain>', 'name browsers use for the edge; sockets are <name>.<domain> (default localhost:<port>)')
    .option('--db <file>', 'SQLite database file (default ./postern.db)')
    .option('--public-scheme <http|https>', 'scheme browsers use (https when TLS ends in front of the edge)')
    .option('--upstream-timeout <duration>', 'time the app has to answer before a 504 (default 60s)')
    .option('--max-header-bytes <n>', 'request headers above this get 431 (default 16384)')
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
    .option('--session-idle <duration>', 'sessions end after this long without a request (default 8h)')
    .option('--tls-cert <file>', 'serve HTTPS with this PEM certificate chain (re-read on SIGHUP)')
    .option('--tls-key <file>', 'PEM private key of --tls-cert (re-read on SIGHUP)')
    .option('--http-redirect-listen <host:port>', 'also listen for plain HTTP and redirect the edge\'s names to https (308)')
    .option('--hsts-max-age <duration>', 'Strict-Transport-Security max-age on HTTPS answers (default 365d; 0 clears it in browsers)')
    .option('--trusted-proxy <cidrs>', 'proxies whose X-Forwarded-For/-Proto are believed, e.g. 127.0.0.1/32,::1 (repeatable)', collect)
    .option('--print-config', 'print the effective configuration (file, env and flags merged; secrets masked) and exit')
    .action(async (opts: EdgeFlags) => {
      const config = resolveEdgeConfig(
        {
          listen: opts.listen,
          domain: opts.domain,
          db: opts.db,
          publicScheme: opts.publicScheme,
          upstreamTimeout: opts.upstreamTimeout,
          maxHeaderBytes: opts.maxHeaderBytes,
          logLevel: opts.logLevel,
          oidc: oidcFromFlags(opts),
          githubClientId: opts.githubClientId,
          githubClientSecretFile: opts.githubClientSecretFile,
          githubWebUrl: opts.githubWebUrl,
          githubApiUrl: opts.githubApiUrl,
          localAccounts: opts.localAccounts,
          sessionTtl: opts.sessionTtl,
          sessionIdle: opts.sessionIdle,
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
      await onShutdown(() => edge.close());
    });
}
