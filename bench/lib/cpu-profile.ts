/**
 * Reads a V8 `.cpuprofile` (`node --cpu-prof`) into where the time went: the self time of every
 * sample inside a window, grouped into the layers of a request's path through the edge, plus the
 * functions with the most self time. Sample times use the monotonic clock that
 * `process.hrtime.bigint()` reads, so the bench gives the window from its own clock.
 */

export interface CpuProfile {
  readonly nodes: ReadonlyArray<{
    readonly id: number;
    readonly callFrame: { readonly functionName: string; readonly url: string; readonly lineNumber: number };
  }>;
  /** Microseconds, CLOCK_MONOTONIC. */
  readonly startTime: number;
  readonly endTime: number;
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

/** Layers, first match wins; `test` sees the frame's URL (or '' for native code) and function name. */
const LAYERS: ReadonlyArray<readonly [string, (url: string, fn: string) => boolean]> = [
  ['garbage collection', (_u, fn) => fn === '(garbage collector)'],
  ['V8 and native code without a JS frame', (u, fn) => u === '' && fn === '(program)'],
  ['socket writes and reads (native, syscalls included)', (u, fn) => u === '' && /^(writev|writeBuffer|writeUtf8String|writeLatin1String|writeAsciiString|onStreamRead|shutdown|readStop|readStart)$/.test(fn)],
  ["undici: the HTTP/1.1 client parsing the app's answer", (u) => u.includes('/node_modules/undici/')],
  ['ws: the tunnel WebSocket framing', (u) => u.includes('/node_modules/ws/')],
  ['mux session and streams (shared/)', (u) => u.includes('/shared/dist/')],
  ['edge: routing, policy, headers, limits, logs (edge/)', (u) => u.includes('/edge/dist/')],
  ['fastify, pino, prom-client (framework, logs, metrics)', (u) => /\/node_modules\/(fastify|@fastify|pino[^/]*|avvio|light-my-request|find-my-way|prom-client|sonic-boom|thread-stream)\//.test(u)],
  ["Node's HTTP server (node:_http_*)", (u) => u.startsWith('node:_http') || u.startsWith('node:internal/http')],
  ["Node's streams", (u) => u.startsWith('node:internal/streams') || u === 'node:stream'],
  ["Node's net and stream plumbing", (u) => u === 'node:net' || u.startsWith('node:internal/stream_base') || u.startsWith('node:internal/net')],
  ['Node internals (events, timers, ticks, buffers)', (u) => u.startsWith('node:')],
  ['other native functions', (u) => u === ''],
  ['other JavaScript', () => true],
];

export interface ProfileLayer {
  readonly name: string;
  /** Share of the busy (non-idle) samples in the window. */
  readonly share: number;
}

export interface ProfileFunction {
  readonly name: string;
  /** `file:line`, shortened to the package or the repository path. */
  readonly where: string;
  readonly share: number;
}

export interface ProfileBreakdown {
  readonly samples: number;
  /** Share of the window's samples that were not idle. */
  readonly busyShare: number;
  readonly layers: readonly ProfileLayer[];
  readonly top: readonly ProfileFunction[];
}

/** Shortens a script URL: `node_modules/undici/lib/x.js`, `edge/dist/src/y.js`, `node:net`. */
export function shortUrl(url: string): string {
  const nm = url.lastIndexOf('/node_modules/');
  if (nm >= 0) return url.slice(nm + '/node_modules/'.length);
  const repo = /\/(edge|shared|connector|cli|bench)\/dist\/(.*)$/.exec(url);
  if (repo) return `${repo[1]}/${repo[2]}`;
  return url.replace(/^file:\/\//, '');
}

/** Self time of the samples taken in [fromUs, toUs] (whole profile when omitted). */
export function breakdown(profile: CpuProfile, window: { fromUs?: number; toUs?: number } = {}, topN = 15): ProfileBreakdown {
  const frames = new Map(profile.nodes.map((n) => [n.id, n.callFrame]));
  const layerCounts = new Map<string, number>();
  const fnCounts = new Map<string, { name: string; where: string; count: number }>();
  let inWindow = 0;
  let busy = 0;
  let t = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    t += profile.timeDeltas[i] ?? 0;
    if ((window.fromUs !== undefined && t < window.fromUs) || (window.toUs !== undefined && t > window.toUs)) continue;
    inWindow++;
    const frame = frames.get(profile.samples[i]!);
    if (!frame || frame.functionName === '(idle)') continue;
    busy++;
    const layer = LAYERS.find(([, test]) => test(frame.url, frame.functionName))![0];
    layerCounts.set(layer, (layerCounts.get(layer) ?? 0) + 1);
    const where = frame.url ? `${shortUrl(frame.url)}:${frame.lineNumber + 1}` : '(native)';
    const key = `${frame.functionName}@${where}`;
    const entry = fnCounts.get(key) ?? { name: frame.functionName || '(anonymous)', where, count: 0 };
    entry.count++;
    fnCounts.set(key, entry);
  }
  const share = (count: number): number => (busy > 0 ? count / busy : 0);
  return {
    samples: inWindow,
    busyShare: inWindow > 0 ? busy / inWindow : 0,
    layers: [...layerCounts].map(([name, count]) => ({ name, share: share(count) })).sort((a, b) => b.share - a.share),
    top: [...fnCounts.values()]
      .sort((a, b) => b.count - a.count)
      .slice(0, topN)
      .map((f) => ({ name: f.name, where: f.where, share: share(f.count) })),
  };
}
