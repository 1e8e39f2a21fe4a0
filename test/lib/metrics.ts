import { request } from './http.js';

/** One sample of a Prometheus text exposition. */
export interface Sample {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

const SAMPLE_LINE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)$/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Parses the text format (comments skipped; label values unescaped). */
export function parseMetrics(text: string): Sample[] {
  const samples: Sample[] = [];
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const match = SAMPLE_LINE.exec(line);
    if (!match) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
    const labels: Record<string, string> = {};
    for (const [, key, raw] of (match[2] ?? '').matchAll(LABEL)) labels[key!] = raw!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    samples.push({ name: match[1]!, labels, value: Number(match[3]) });
  }
  return samples;
}

/** A scrape, with lookups by name and exact label set. */
export class Scrape {
  constructor(readonly samples: readonly Sample[]) {}

  /** The value of the series with exactly these labels; 0 when it does not exist (a counter not yet touched). */
  value(name: string, labels: Record<string, string> = {}): number {
    return this.find(name, labels)?.value ?? 0;
  }

  find(name: string, labels: Record<string, string> = {}): Sample | undefined {
    const want = Object.entries(labels);
    return this.samples.find(
      (s) => s.name === name && Object.keys(s.labels).length === want.length && want.every(([k, v]) => s.labels[k] === v),
    );
  }

  has(name: string): boolean {
    return this.samples.some((s) => s.name === name);
  }
}

/** GET http://127.0.0.1:PORT/metrics; fails unless it answers 200 in the Prometheus text format. */
export async function scrape(port: number): Promise<Scrape> {
  const res = await request({ port, host: `127.0.0.1:${port}`, path: '/metrics' });
  if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${res.body.toString('utf8')}`);
  if (!String(res.headers['content-type']).startsWith('text/plain')) throw new Error(`/metrics content-type ${res.headers['content-type']}`);
  return new Scrape(parseMetrics(res.body.toString('utf8')));
}

/** Status and parsed JSON of a probe (`/healthz`, `/readyz`) on a monitoring port. */
export async function probe(port: number, path: '/healthz' | '/readyz'): Promise<{ status: number; body: { ok: boolean; reason?: string } }> {
  const res = await request({ port, host: `127.0.0.1:${port}`, path, timeoutMs: 5_000 });
  return { status: res.status, body: JSON.parse(res.body.toString('utf8')) as { ok: boolean; reason?: string } };
}
