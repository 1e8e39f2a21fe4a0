import { CliError } from './errors.js';

export function parseIntInRange(value: string, min: number, max: number, flag: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) throw new CliError(`${flag} must be a whole number from ${min} to ${max}, not "${value}"`);
  return n;
}

/** "30s", "500ms", "2m" or a plain number of seconds. */
export function parseDuration(value: string, flag: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(value.trim());
  if (!match) throw new CliError(`${flag} must be a duration such as 30s, 500ms or 2m, not "${value}"`);
  const n = Number(match[1]);
  const unit = match[2] ?? 's';
  return Math.round(unit === 'ms' ? n : unit === 'm' ? n * 60_000 : n * 1000);
}
