/** Width of a string as a terminal shows it (colour codes take no room). */
const visibleLength = (s: string): number => s.replace(/\x1b\[[0-9;]*m/g, '').length;

/** Left-aligned columns separated by two spaces; the header row first. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const all = [header, ...rows];
  const widths = header.map((_, col) => Math.max(...all.map((row) => visibleLength(row[col] ?? ''))));
  return all
    .map((row) => row.map((cell, col) => (col === row.length - 1 ? cell : cell + ' '.repeat(widths[col]! - visibleLength(cell)))).join('  '))
    .join('\n');
}
