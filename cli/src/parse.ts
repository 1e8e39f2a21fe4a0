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
