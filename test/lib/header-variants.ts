/**
 * Spellings of one header name that some HTTP stack reads as that header: any case, `_` for any
 * `-` (CGI, PHP, WSGI and Rack fold both to `_`), and mixes of the two.
 */
export function headerSpellings(name: string): string[] {
  const alternating = [...name].map((ch, i) => (i % 2 === 0 ? ch.toUpperCase() : ch.toLowerCase())).join('');
  const dashes = [...name.matchAll(/-/g)].map((m) => m.index!);
  const spellings = [
    name,
    name.toLowerCase(),
    name.toUpperCase(),
    alternating,
    name.replace(/-/g, '_'),
    name.toLowerCase().replace(/-/g, '_'),
    name.toUpperCase().replace(/-/g, '_'),
    ...dashes.map((at) => `${name.slice(0, at)}_${name.slice(at + 1)}`),
  ];
  return [...new Set(spellings)];
}
