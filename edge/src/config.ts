import { isIP } from 'node:net';

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
}

export interface EdgeConfigInput {
  readonly listen?: string | undefined;
  readonly domain?: string | undefined;
  readonly db?: string | undefined;
  readonly publicScheme?: string | undefined;
  readonly upstreamTimeout?: string | number | undefined;
  readonly maxHeaderBytes?: string | number | undefined;
  readonly logLevel?: string | undefined;
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
  };
}

/** Defaults, then environment, then flags (flags win); validated once with precise messages. */
export function resolveEdgeConfig(flags: EdgeConfigInput, env: EdgeConfigInput = {}): EdgeConfig {
  const pick = <K extends keyof EdgeConfigInput>(key: K): EdgeConfigInput[K] => flags[key] ?? env[key];
  const { host, port } = parseListen(pick('listen') ?? '127.0.0.1:8080');
  const domain = parseDomain(pick('domain') ?? `localhost:${port}`);
  const scheme = pick('publicScheme') ?? 'http';
  if (scheme !== 'http' && scheme !== 'https') throw new ConfigError(`--public-scheme must be http or https, not "${scheme}"`);
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
  });
}

export function parseListen(value: string): { host: string; port: number } {
  const match = /^(?:\[([0-9a-fA-F:]+)\]|([^:\s]+)):(\d{1,5})$/.exec(value) ?? /^()()(\d{1,5})$/.exec(value);
  if (!match) throw new ConfigError(`--listen must be HOST:PORT (e.g. 127.0.0.1:8080), not "${value}"`);
  const host = match[1] || match[2] || '127.0.0.1';
  const port = Number(match[3]);
  if (port > 65535) throw new ConfigError(`--listen port must be 0-65535, not ${port}`);
  if (match[1] && isIP(host) !== 6) throw new ConfigError(`--listen has an invalid IPv6 address "${host}"`);
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

function parseDuration(value: string | number, flag: string): number {
  if (typeof value === 'number') return value;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  if (!match) throw new ConfigError(`${flag} must be a duration such as 30s, 500ms or 2m, not "${value}"`);
  const n = Number(match[1]);
  const unit = match[2] ?? 's';
  const ms = unit === 'ms' ? n : unit === 'm' ? n * 60_000 : n * 1000;
  if (ms <= 0) throw new ConfigError(`${flag} must be greater than zero`);
  return Math.round(ms);
}

function parsePositiveInt(value: string | number, flag: string): number {
  const n = typeof value === 'number' ? value : Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new ConfigError(`${flag} must be a positive whole number, not "${value}"`);
  return n;
}
