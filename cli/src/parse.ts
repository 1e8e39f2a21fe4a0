import { CliError } from './errors.js';

export function parseIntInRange(value: string, min: number, max: number, flag: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) throw new CliError(`${flag} must be a whole number from ${min} to ${max}, not "${value}"`);
  return n;
}

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 };

/** "30s", "500ms", "2m", "12h", "30d" or a plain number of seconds. */
export function parseDuration(value: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim());
  if (!match) throw new CliError(`${flag} must be a duration such as 30s, 500ms, 2m, 12h or 30d, not "${value}"`);
  return Math.round(Number(match[1]) * UNIT_MS[match[2] ?? 's']!);
}

/** `[host:]port` (host defaults to 127.0.0.1); IPv6 hosts in brackets (`[::1]:5432`). */
export function parseListenAddress(value: string, flag: string): { host: string; port: number } {
  const match = /^(?:(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/.exec(value);
  if (!match) throw new CliError(`${flag} must be [host:]port such as 5432 or 127.0.0.1:5432, not "${value}"`);
  return { host: match[1]?.replace(/^\[|\]$/g, '') ?? '127.0.0.1', port: parseIntInRange(match[2]!, 0, 65535, `${flag} port`) };
}
