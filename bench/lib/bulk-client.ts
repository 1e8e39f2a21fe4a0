/**
 * The fairness test's bulk download, in its own process so its reading does not share an event loop
 * with the load generator. `node bulk-client.js PORT HOST|- BYTES RATE [AHEAD_MS]` downloads
 * /bytes?n=BYTES, reading at most RATE bytes/s (pausing whenever it is AHEAD_MS ahead), and prints JSON lines: {"event":"progress","t":ms,"bytes":N} every
 * 100 ms, then {"event":"done",...} or {"event":"error",...}. SIGTERM stops it.
 */
import { download } from './transfer.js';

const [portArg, hostArg, bytesArg, rateArg, aheadArg] = process.argv.slice(2);
const port = Number(portArg);
const host = hostArg && hostArg !== '-' ? hostArg : undefined;
const n = Number(bytesArg);
const rate = Number(rateArg ?? '0');
const aheadMs = Number(aheadArg ?? '1');

const started = performance.now();
const emit = (value: Record<string, unknown>): void => {
  process.stdout.write(`${JSON.stringify({ ...value, t: Math.round(performance.now() - started) })}\n`);
};
process.on('SIGTERM', () => process.exit(0));

download({ port, host }, n, { rate, aheadMs, onProgress: (bytes) => emit({ event: 'progress', bytes }), progressMs: 100, timeoutMs: 600_000 })
  .then((r) => {
    emit({ event: 'done', status: r.status, bytes: r.bytes, expected: r.expected, seconds: r.seconds });
    process.exit(0);
  })
  .catch((err: Error) => {
    emit({ event: 'error', message: err.message });
    process.exit(1);
  });
