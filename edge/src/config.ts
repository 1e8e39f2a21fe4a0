import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { parse as parseYaml } from 'yaml';

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
  readonly logLevel?: string | undefined;
  readonly oidc?: readonly OidcInput[] | undefined;
  readonly githubClientId?: string | undefined;
  readonly githubClientSecretFile?: string | undefined;
  readonly githubWebUrl?: string | undefined;
  readonly githubApiUrl?: string | undefined;
  readonly localAccounts?: boolean | undefined;
  readonly sessionTtl?: string | number | undefined;
  readonly sessionIdle?: string | number | undefined;
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
    logLevel: env.POSTERN_LOG_LEVEL,
    oidc: env.POSTERN_OIDC_ISSUER
      ? [{ issuer: env.POSTERN_OIDC_ISSUER, clientId: env.POSTERN_OIDC_CLIENT_ID, clientSecretFile: env.POSTERN_OIDC_CLIENT_SECRET_FILE, name: env.POSTERN_OIDC_NAME }]
      : undefined,
    githubClientId: env.POSTERN_GITHUB_CLIENT_ID,
    githubClientSecretFile: env.POSTERN_GITHUB_CLIENT_SECRET_FILE,
    sessionTtl: env.POSTERN_SESSION_TTL,
    sessionIdle: env.POSTERN_SESSION_IDLE,
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
  log_level: 'logLevel',
  oidc: 'oidc',
  github_client_id: 'githubClientId',
  github_client_secret_file: 'githubClientSecretFile',
  github_web_url: 'githubWebUrl',
  github_api_url: 'githubApiUrl',
  local_accounts: 'localAccounts',
  session_ttl: 'sessionTtl',
  session_idle: 'sessionIdle',
  tls_cert: 'tlsCert',
  tls_key: 'tlsKey',
  http_redirect_listen: 'httpRedirectListen',
  hsts_max_age: 'hstsMaxAge',
  trusted_proxies: 'trustedProxies',
};

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
  for (const [key, value] of Object.entries(doc)) {
    const target = YAML_KEYS[key];
    if (!target) throw new ConfigError(`config file ${path}: unknown key "${key}" (known: ${Object.keys(YAML_KEYS).join(', ')})`);
    if (target === 'oidc') {
      if (!Array.isArray(value)) throw new ConfigError(`config file ${path}: "oidc" must be a list of {issuer, client_id, client_secret_file, name}`);
      out.oidc = value.map((item: Record<string, string>) => ({ issuer: item.issuer, clientId: item.client_id, clientSecretFile: item.client_secret_file, name: item.name }));
    } else {
      out[target] = value;
    }
  }
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

function parsePositiveInt(value: string | number, flag: string): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new ConfigError(`${flag} must be a positive whole number, not "${value}"`);
  return n;
}
