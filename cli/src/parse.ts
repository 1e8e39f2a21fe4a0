import { CliError } from './errors.js';

export function parseIntInRange(value: string, min: number, max: number, flag: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n < min || n > max) throw new CliError(`${flag} must be a whole number from ${min} to ${max}, not "${value}"`);
  return n;
}

const UNIT_MS: Readonly<Record<string, number>> = { ms: 1, s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 };

/** Examples shown in a duration error: only those the flag accepts. */
const EXAMPLES: ReadonlyArray<readonly [text: string, ms: number]> = [
  ['500ms', 500],
  ['30s', 30_000],
  ['2m', 120_000],
  ['12h', 43_200_000],
  ['30d', 2_592_000_000],
];

/** The largest whole unit: 60000 → "1m", 90000 → "90s". */
export function formatDuration(ms: number): string {
  const [unit, size] = Object.entries(UNIT_MS)
    .sort(([, a], [, b]) => b - a)
    .find(([, size]) => ms % size === 0) ?? ['ms', 1];
  return `${ms / size}${unit}`;
}

/** "30s", "500ms", "2m", "12h", "30d" or a plain number of seconds, optionally within [min, max] ms. */
export function parseDuration(value: string, flag: string, range: { readonly min?: number; readonly max?: number } = {}): number {
  const { min = 0, max = Infinity } = range;
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(value.trim());
  if (!match) {
    const examples = EXAMPLES.filter(([, ms]) => ms >= min && ms <= max).map(([text]) => text);
    const list = examples.length > 1 ? `${examples.slice(0, -1).join(', ')} or ${examples.at(-1)}` : (examples[0] ?? formatDuration(min));
    throw new CliError(`${flag} must be a duration such as ${list}, not "${value}"`);
  }
  const ms = Math.round(Number(match[1]) * UNIT_MS[match[2] ?? 's']!);
  if (ms < min) throw new CliError(`${flag} must be at least ${formatDuration(min)}, not "${value}"`);
  if (ms > max) throw new CliError(`${flag} must be at most ${formatDuration(max)}, not "${value}"`);
  return ms;
}

/** `[host:]port` (host defaults to 127.0.0.1); IPv6 hosts in brackets (`[::1]:5432`). */
export function parseListenAddress(value: string, flag: string): { host: string; port: number } {
  const match = /^(?:(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):)?(\d{1,5})$/.exec(value);
  if (!match) throw new CliError(`${flag} must be [host:]port such as 5432 or 127.0.0.1:5432, not "${value}"`);
  return { host: match[1]?.replace(/^\[|\]$/g, '') ?? '127.0.0.1', port: parseIntInRange(match[2]!, 0, 65535, `${flag} port`) };
}
