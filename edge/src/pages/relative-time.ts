const UNITS: ReadonlyArray<readonly [limitMs: number, unitMs: number, unit: string]> = [
  [60 * 60_000, 60_000, 'min'],
  [48 * 60 * 60_000, 60 * 60_000, 'h'],
  [Infinity, 24 * 60 * 60_000, 'days'],
];

/** "less than a minute", "5 min", "3 h", "12 days": a span, for "up for …". */
export function timeSpan(elapsedMs: number): string {
  const elapsed = Math.max(0, elapsedMs);
  if (elapsed < 60_000) return 'less than a minute';
  const [, unitMs, unit] = UNITS.find(([limitMs]) => elapsed < limitMs)!;
  return `${Math.floor(elapsed / unitMs)} ${unit}`;
}

/** "just now", "5 min ago", "3 h ago", "12 days ago": pages are rendered per request, so `now` is fresh. */
export function timeAgo(at: number, now: number): string {
  return now - at < 60_000 ? 'just now' : `${timeSpan(now - at)} ago`;
}
