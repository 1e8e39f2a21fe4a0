import type { FastifyBaseLogger } from 'fastify';
import type { RateLimitsConfig } from '../config.js';
import { EdgeError } from '../errors.js';
import { RateLimiter } from './rate-limiter.js';

export type RateLimitName = keyof RateLimitsConfig;
/** One hit: which limit, and whose (an address, an email, an account id, a session). */
export type Hit = readonly [name: RateLimitName, key: string];

/** Keys each limit remembers: with a flood of distinct keys the least recently seen are forgotten. */
const MAX_KEYS_PER_LIMIT = 10_000;

/** What went over the limit and when to retry, said to a person (pages) or to a program (API). */
const TOO_MANY: Readonly<Record<RateLimitName, (wait: string) => string>> = {
  loginPerEmail: (wait) => `Too many failed sign-in attempts for this account. For its safety, sign-in is paused: try again in ${wait}.`,
  loginPerAddress: (wait) => `Too many failed sign-in attempts from your network. Sign-in is paused: try again in ${wait}.`,
  signinPerAddress: (wait) => `Too many sign-ins were started from your network. Please try again in ${wait}.`,
  deviceCodePerAddress: (wait) => `too many "postern login" requests from this address: try again in ${wait}`,
  deviceApprovePerSession: (wait) => `Too many sign-in codes were entered in this browser. Please try again in ${wait}.`,
  apiPerAccount: (wait) => `too many API requests for this account: try again in ${wait}`,
  apiBadTokenPerAddress: (wait) => `too many requests with a missing or invalid token from this address: try again in ${wait}`,
  handoffPerSession: (wait) => `Too many sign-ins to apps from this browser. Please try again in ${wait}.`,
  handoffPerAddress: (wait) => `Too many sign-ins to apps from your network. Please try again in ${wait}.`,
  badTokenPerAddress: (wait) => `too many requests with an invalid Postern token from this address: try again in ${wait}`,
};

/** Limits whose key is a client address (grouped by addressKey). */
const KEYED_BY_ADDRESS: ReadonlySet<RateLimitName> = new Set([
  'loginPerAddress',
  'signinPerAddress',
  'deviceCodePerAddress',
  'apiBadTokenPerAddress',
  'handoffPerAddress',
  'badTokenPerAddress',
]);

/** "45 seconds", "2 minutes", "1 hour": rounded up, so a person never retries too early. */
export function waitInWords(seconds: number): string {
  const [n, unit] = seconds < 60 ? [seconds, 'second'] : seconds < 3600 ? [Math.ceil(seconds / 60), 'minute'] : [Math.ceil(seconds / 3600), 'hour'];
  return `${n} ${unit}${n === 1 ? '' : 's'}`;
}

/**
 * IPv6 clients are keyed by their /64 (one host usually holds all of it), and IPv4 clients seen on
 * a dual-stack socket (`::ffff:1.2.3.4`) by their IPv4 address.
 */
export function addressKey(address: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  if (mapped) return mapped[1]!;
  if (!address.includes(':')) return address;
  const [head = '', tail] = address.replace(/%.*$/, '').toLowerCase().split('::');
  const groups = (part: string | undefined) => (part ? part.split(':').flatMap((g) => (g.includes('.') ? ['0', '0'] : [g])) : []);
  const front = groups(head);
  const all = tail === undefined ? front : [...front, ...Array<string>(Math.max(0, 8 - front.length - groups(tail).length)).fill('0'), ...groups(tail)];
  return `${all.slice(0, 4).map((g) => Number.parseInt(g, 16).toString(16)).join(':')}::/64`;
}

const keyOf = (name: RateLimitName, key: string): string => (KEYED_BY_ADDRESS.has(name) ? addressKey(key) : key);

/**
 * The edge's named rate limits, built once from the config. A refused hit becomes a 429
 * `RATE_LIMITED` error with `Retry-After`; the first refusal of a key in a window logs one warn
 * line, the rest of that window stays quiet (a flood must not flood the log too).
 */
export class RateLimits {
  private readonly limiters = new Map<RateLimitName, RateLimiter>();

  constructor(
    config: RateLimitsConfig,
    private readonly log: FastifyBaseLogger,
    now?: () => number,
  ) {
    for (const [name, rate] of Object.entries(config) as [RateLimitName, RateLimitsConfig[RateLimitName]][]) {
      if (rate) this.limiters.set(name, new RateLimiter({ ...rate, maxKeys: MAX_KEYS_PER_LIMIT, ...(now ? { now } : {}) }));
    }
  }

  /**
   * Counts one hit against every limit given. When one refuses, the hits already counted are given
   * back (a refused attempt is not evaluated, so it costs nothing else) and the 429 is returned.
   */
  take(...hits: readonly Hit[]): EdgeError | undefined {
    for (const [i, [name, rawKey]] of hits.entries()) {
      const key = keyOf(name, rawKey);
      const decision = this.limiters.get(name)?.take(key);
      if (!decision || decision.allowed) continue;
      this.refund(...hits.slice(0, i));
      const retryAfterSeconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
      if (decision.firstRefusal) this.log.warn({ limit: name, key, retry_after_s: retryAfterSeconds }, 'rate limit reached');
      return new EdgeError('RATE_LIMITED', TOO_MANY[name](waitInWords(retryAfterSeconds)), { headers: { 'retry-after': String(retryAfterSeconds) } });
    }
    return undefined;
  }

  /** Gives hits back: they turned out not to count (a correct password, a valid token). */
  refund(...hits: readonly Hit[]): void {
    for (const [name, key] of hits) this.limiters.get(name)?.refund(keyOf(name, key));
  }
}
