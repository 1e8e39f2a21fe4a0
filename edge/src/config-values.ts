import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { formatByteSize, parseByteSize } from './limits/size.js';

/**
 * The typed value parsers every edge setting goes through, whichever source it came from. Flags,
 * POSTERN_* variables and the YAML file (read with the failsafe schema) all hand over text, or a
 * list of texts, so `30`, `"30"` and `--x 30` mean the same thing everywhere. A parser is given the
 * setting's name in its source (`--upstream-timeout`, `POSTERN_UPSTREAM_TIMEOUT`,
 * `edge.yaml: upstream_timeout`) and throws a ConfigError that starts with it.
 */

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** A file a setting names (a secret, a key, a certificate), or the one-line error that names the setting. */
export function readConfigFile(file: string, name: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read ${name} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

/** What a source hands over for one setting: text, or a list of texts (a YAML sequence, a repeated flag). */
export type RawValue = string | readonly string[];

/** A typed value as the YAML file writes it (what `--print-config` prints). */
export type PrintedValue = string | number | boolean | readonly string[];

export interface ValueType<T> {
  /** The value's placeholder in --help (`<duration>`); empty for a switch. */
  readonly metavar: string;
  parse(raw: RawValue, name: string): T;
  /** The inverse of parse: parse(format(v)) gives v back. */
  format(value: T): PrintedValue;
}

const shown = (raw: RawValue): string => (typeof raw === 'string' ? JSON.stringify(raw) : JSON.stringify([...raw]));

export const invalid = (name: string, expected: string, raw: RawValue): ConfigError => new ConfigError(`${name} must be ${expected}, not ${shown(raw)}`);

/** One text; a list (a YAML sequence) is refused for a setting that takes one value. */
function one(raw: RawValue, name: string, expected: string): string {
  if (typeof raw !== 'string') throw invalid(name, `${expected} (one value, not a list)`, raw);
  return raw.trim();
}

/** Items of a list setting: a flag's or variable's text split at `separator`, or a list (a YAML sequence, a repeated flag) whose entries may be split too. */
export function items(raw: RawValue, separator: RegExp): string[] {
  return (typeof raw === 'string' ? [raw] : raw).flatMap((entry) => entry.split(separator)).map((item) => item.trim()).filter(Boolean);
}

/** Any non-empty text (a path, a client id, a name). */
export const text = (metavar: string): ValueType<string> => ({
  metavar,
  parse: (raw, name) => {
    const value = one(raw, name, 'a non-empty value');
    if (!value) throw invalid(name, 'a non-empty value', raw);
    return value;
  },
  format: (value) => value,
});

/** An absolute http(s) URL, kept as written (providers apply their own https rules when they start). */
export const url: ValueType<string> = {
  metavar: '<url>',
  parse: (raw, name) => {
    const value = one(raw, name, 'an http(s) URL');
    let parsed: URL | undefined;
    try {
      parsed = new URL(value);
    } catch {
      parsed = undefined;
    }
    if (parsed?.protocol !== 'https:' && parsed?.protocol !== 'http:') throw invalid(name, 'an http(s) URL such as https://example.com', raw);
    return value;
  },
  format: (value) => value,
};

export function oneOf<const T extends string>(choices: readonly T[]): ValueType<T> {
  return {
    metavar: `<${choices.join('|')}>`,
    parse: (raw, name) => {
      const value = one(raw, name, `one of ${choices.join(', ')}`);
      if (!(choices as readonly string[]).includes(value)) throw invalid(name, `one of ${choices.join(', ')}`, raw);
      return value as T;
    },
    format: (value) => value,
  };
}

/**
 * true/false, also yes/no, on/off, 1/0 (any case). The YAML file is read as text, so `false`,
 * `"false"` and `no` all mean false there as in POSTERN_* variables; anything else is refused.
 */
export const boolean: ValueType<boolean> = {
  metavar: '',
  parse: (raw, name) => {
    const value = one(raw, name, 'true or false').toLowerCase();
    if (/^(true|yes|on|1)$/.test(value)) return true;
    if (/^(false|no|off|0)$/.test(value)) return false;
    throw invalid(name, 'true or false', raw);
  },
  format: (value) => value,
};

/** A positive whole number in decimal digits (no `0x10`, `1e2` or `1.0`), at most `max`. */
export function count(max = Number.MAX_SAFE_INTEGER, why = ''): ValueType<number> {
  return {
    metavar: '<n>',
    parse: (raw, name) => {
      const value = one(raw, name, 'a positive whole number');
      const n = /^\d+$/.test(value) ? Number(value) : NaN;
      if (!Number.isSafeInteger(n) || n <= 0) throw invalid(name, 'a positive whole number', raw);
      if (n > max) throw invalid(name, `at most ${max}${why}`, raw);
      return n;
    },
    format: (value) => value,
  };
}

export function size(min = 1, max = Number.MAX_SAFE_INTEGER, why = ''): ValueType<number> {
  const expected = min === 1 && max === Number.MAX_SAFE_INTEGER ? 'a size such as 1048576, 512KiB, 50MiB or 1GiB' : `a size from ${formatByteSize(min)} to ${formatByteSize(max)}${why}`;
  return {
    metavar: '<size>',
    parse: (raw, name) => {
      const bytes = parseByteSize(one(raw, name, expected));
      if (bytes === undefined || bytes < min || bytes > max) throw invalid(name, expected, raw);
      return bytes;
    },
    format: formatByteSize,
  };
}

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };
const DURATION_EXAMPLES = 'such as 30s, 500ms, 2m, 8h or 7d';

/** Milliseconds of `30s`, `500ms`, `2m`, `8h`, `7d` (a bare number is seconds); undefined when it is none. */
function durationMs(value: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value);
  return match ? Math.round(Number(match[1]) * UNIT_MS[match[2] ?? 's']!) : undefined;
}

/** Durations as the config file writes them: the largest unit that divides exactly. */
export function formatDuration(ms: number): string {
  for (const [unit, size] of [['d', 86_400_000], ['h', 3600_000], ['m', 60_000], ['s', 1000]] as const) {
    if (ms % size === 0) return `${ms / size}${unit}`;
  }
  return `${ms}ms`;
}

/** A positive duration in milliseconds, at least `minMs`. */
export function duration(minMs = 1): ValueType<number> {
  return {
    metavar: '<duration>',
    parse: (raw, name) => {
      const ms = durationMs(one(raw, name, `a positive duration ${DURATION_EXAMPLES}`));
      if (ms === undefined || ms <= 0) throw invalid(name, `a positive duration ${DURATION_EXAMPLES}`, raw);
      if (ms < minMs) throw invalid(name, `at least ${formatDuration(minMs)}`, raw);
      return ms;
    },
    format: formatDuration,
  };
}

/** Whole seconds of a duration; `0` is allowed (HSTS: it is how a site tells browsers to forget it). */
export const secondsOrZero: ValueType<number> = {
  metavar: '<duration>',
  parse: (raw, name) => {
    const value = one(raw, name, `a duration ${DURATION_EXAMPLES}, or 0`);
    const ms = durationMs(value);
    if (ms === undefined) throw invalid(name, `a duration ${DURATION_EXAMPLES}, or 0`, raw);
    return Math.floor(ms / 1000);
  },
  format: (seconds) => (seconds === 0 ? 0 : formatDuration(seconds * 1000)),
};

export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** `host:port`, with IPv6 hosts in brackets as --listen takes them. */
const formatHostPort = ({ host, port }: ListenAddress): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

/** HOST:PORT, `[v6]:PORT`, or a bare port (127.0.0.1). */
export const listen: ValueType<ListenAddress> = {
  metavar: '<host:port>',
  parse: (raw, name) => {
    const value = one(raw, name, 'HOST:PORT');
    const match = /^(?:\[([0-9a-fA-F:]+)\]|([^:\s]+)):(\d{1,5})$/.exec(value) ?? /^()()(\d{1,5})$/.exec(value);
    if (!match) throw invalid(name, 'HOST:PORT (e.g. 127.0.0.1:8080)', raw);
    const host = match[1] || match[2] || '127.0.0.1';
    const port = Number(match[3]);
    if (port > 65535) throw invalid(name, 'HOST:PORT with a port from 0 to 65535', raw);
    if (match[1] && isIP(host) !== 6) throw invalid(name, 'HOST:PORT with a valid IPv6 address in brackets', raw);
    return Object.freeze({ host, port });
  },
  format: formatHostPort,
};

const DNS_NAME = /^(?=.{1,253}(?::\d{1,5})?$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*(?::\d{1,5})?$/;

/** The edge domain: a lower-case DNS name with an optional port, no scheme, no path. */
export const domain: ValueType<string> = {
  metavar: '<domain>',
  parse: (raw, name) => {
    const value = one(raw, name, 'a DNS name').toLowerCase().replace(/\.$/, '');
    if (!DNS_NAME.test(value)) throw invalid(name, 'a DNS name with an optional port (e.g. localhost:8080 or edge.example.com)', raw);
    return value;
  },
  format: (value) => value,
};

/** A domain with at least one dot and no port (Google's `hd`). */
export const hostedDomain: ValueType<string> = {
  metavar: '<domain>',
  parse: (raw, name) => {
    const value = one(raw, name, 'a domain').toLowerCase();
    if (!/^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)+$/.test(value)) throw invalid(name, 'a domain such as corp.com', raw);
    return value;
  },
  format: (value) => value,
};

export const email: ValueType<string> = {
  metavar: '<email>',
  parse: (raw, name) => {
    const value = one(raw, name, 'an email address');
    if (!/^[^@\s]+@[^@\s]+$/.test(value)) throw invalid(name, 'an email address', raw);
    return value;
  },
  format: (value) => value,
};

/** `count` hits per `windowMs`, refilled evenly (a token bucket); null turns the limit off. */
export interface Rate {
  readonly count: number;
  readonly windowMs: number;
}

/** `10/1m`, `600/1m`, `5/30s`: a count per duration; `off` turns the limit off. */
export const rate: ValueType<Rate | null> = {
  metavar: '<count/duration>',
  parse: (raw, name) => {
    const expected = 'COUNT/DURATION with a positive count and duration, such as 10/1m or 600/1m, or off';
    const value = one(raw, name, expected);
    if (value === 'off') return null;
    const match = /^(\d+)\s*\/\s*(\S+)$/.exec(value);
    const windowMs = match ? durationMs(match[2]!) : undefined;
    const n = match ? Number(match[1]) : 0;
    if (!Number.isSafeInteger(n) || n <= 0 || windowMs === undefined || windowMs <= 0) throw invalid(name, expected, raw);
    return Object.freeze({ count: n, windowMs });
  },
  format: (r) => (r ? `${r.count}/${formatDuration(r.windowMs)}` : 'off'),
};

/** A list of items, each checked by `item`: a YAML sequence, or text split at `separator`. */
export function list(metavar: string, separator: RegExp, item: (value: string, name: string, raw: RawValue) => string): ValueType<readonly string[]> {
  return {
    metavar,
    parse: (raw, name) => Object.freeze(items(raw, separator).map((value) => item(value, name, raw))),
    format: (values) => [...values],
  };
}

/** One `--trusted-proxy` entry, validated. */
export interface TrustedNetwork {
  readonly address: string;
  readonly prefix: number;
  readonly family: 'ipv4' | 'ipv6';
}

/** CIDRs such as `10.0.0.0/8`, `::1` or `127.0.0.1/32` (a bare address is a single host). */
export const cidrs: ValueType<readonly TrustedNetwork[]> = {
  metavar: '<cidrs>',
  parse: (raw, name) =>
    Object.freeze(
      items(raw, /,/).map((entry) => {
        const [address = '', bits, extra] = entry.split('/');
        const family = isIP(address);
        const max = family === 6 ? 128 : 32;
        const prefix = bits === undefined ? max : /^\d{1,3}$/.test(bits) ? Number(bits) : NaN;
        if (family === 0 || extra !== undefined || !(prefix >= 0 && prefix <= max)) {
          throw new ConfigError(`${name} must list IP addresses or CIDRs (e.g. 127.0.0.1/32, 10.0.0.0/8, ::1), not ${JSON.stringify(entry)}`);
        }
        return Object.freeze({ address, prefix, family: family === 6 ? 'ipv6' : 'ipv4' } as const);
      }),
    ),
  format: (networks) => networks.map((net) => `${net.address}/${net.prefix}`),
};
