/**
 * Byte sizes as people write them: `512`, `64KiB`, `50MiB`, `1.5GB`. Binary units (KiB, MiB, GiB,
 * TiB, and the bare K, M, G, T as nginx reads them) count in 1024s, decimal ones (KB, MB, GB, TB) in
 * 1000s; case does not matter. Shared by the edge's config and the CLI's `--max-body-size`.
 */
const UNITS: Readonly<Record<string, number>> = {
  '': 1,
  b: 1,
  k: 1024,
  kib: 1024,
  m: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1024 ** 3,
  gib: 1024 ** 3,
  t: 1024 ** 4,
  tib: 1024 ** 4,
  kb: 1000,
  mb: 1000 ** 2,
  gb: 1000 ** 3,
  tb: 1000 ** 4,
};

/** A whole number of bytes, or undefined when `value` is not a size (or not a whole number of bytes). */
export function parseByteSize(value: string | number): number | undefined {
  if (typeof value === 'number') return Number.isSafeInteger(value) && value >= 0 ? value : undefined;
  const match = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i.exec(value.trim());
  const unit = match ? UNITS[match[2]!.toLowerCase()] : undefined;
  if (!match || unit === undefined) return undefined;
  const bytes = Number(match[1]) * unit;
  return Number.isSafeInteger(bytes) ? bytes : undefined;
}

/** The shortest exact binary spelling of a size: 1073741824 → `1GiB`, 1500 → `1500B`. */
export function formatByteSize(bytes: number): string {
  for (const [unit, size] of [['TiB', 1024 ** 4], ['GiB', 1024 ** 3], ['MiB', 1024 ** 2], ['KiB', 1024]] as const) {
    if (bytes >= size && bytes % size === 0) return `${bytes / size}${unit}`;
  }
  return `${bytes}B`;
}
