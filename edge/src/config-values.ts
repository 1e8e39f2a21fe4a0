/** The typed errors and value parsers every part of the edge's configuration shares. */

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

export function parseDuration(value: string | number, flag: string): number {
  if (typeof value === 'number') return value;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim());
  if (!match) throw new ConfigError(`${flag} must be a duration such as 30s, 500ms, 2m, 8h or 7d, not "${value}"`);
  const n = Number(match[1]);
  const ms = n * UNIT_MS[match[2] ?? 's']!;
  if (ms <= 0) throw new ConfigError(`${flag} must be greater than zero`);
  return Math.round(ms);
}
