/**
 * `npm run soak`: data integrity under load. One edge and two connectors serve one socket (real
 * processes, loopback only) while mixed traffic runs through them for SOAK_SECONDS (default 60) and
 * connector B is restarted (SIGTERM drain, then started again) a few times. Every answer is checked
 * exactly: sha256 of each 100 MiB download and upload, every WebSocket echo byte for byte, SSE
 * sequence numbers, the body of every small GET. See docs/BENCHMARKS.md ("Soak").
 *
 * Exits 1 if anything was corrupted or silently truncated (or a kind of traffic was never verified,
 * or a restart failed); clean errors, visible to the client, are counted and reported, not failed.
 *
 * Environment:
 *   SOAK_SECONDS=60         length of the mixed-traffic run
 *   SOAK_RESULTS=path       write the JSON there instead of bench/results/soak-latest.json
 *   BENCH_KEEP_TMP=1        keep the temp dir (process logs) after a passing run
 *   BENCH_SOURCE            label for the measured source when not run from a git checkout
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { cpus, release, tmpdir, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { writeBenchmarksDoc } from './docs.js';
import { gitState, machineBusy, runBounded, writeJsonAtomic } from './lib/lifecycle.js';
import { log } from './lib/report.js';
import { Rig } from './lib/rig.js';
import { runSoak, soakReport, soakSettings } from './lib/soak.js';
import { connectorRetries, startOrigin } from './lib/targets.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const DEFAULT_RESULTS = join(ROOT, 'bench/results/soak-latest.json');
const RESULTS = resolve(process.env.SOAK_RESULTS ?? DEFAULT_RESULTS);
const SECONDS = Number(process.env.SOAK_SECONDS ?? 60);

async function main(): Promise<number> {
  if (!Number.isFinite(SECONDS) || SECONDS < 10 || SECONDS > 3600) throw new Error(`SOAK_SECONDS must be between 10 and 3600, not "${process.env.SOAK_SECONDS}"`);
  const startedAt = new Date();
  const dir = mkdtempSync(join(tmpdir(), 'postern-soak-'));
  log(`Postern soak — ${startedAt.toISOString()}`);
  log(`machine: ${cpus().length} × ${cpus()[0]?.model ?? 'unknown CPU'}, ${(totalmem() / 2 ** 30).toFixed(1)} GiB, Linux ${release()}, Node ${process.version}`);
  log(`logs: ${dir}`);
  const busyBefore = await machineBusy(1500);
  const source = await gitState(ROOT);
  log(`source: ${source.commit ?? 'unknown commit'}${source.dirty.length ? ` + uncommitted changes in ${source.dirty.join(', ')}` : ''}`);
  if (busyBefore > 0.1) log(`note: the machine was already ${(busyBefore * 100).toFixed(0)}% busy before the soak (other processes): latency and throughput will be noisy`);

  const settings = soakSettings(SECONDS);
  const origin = await startOrigin(ROOT, dir);
  const rig = await Rig.start(ROOT, dir, origin, { tag: 'soak', connections: settings.connections, graceSeconds: settings.graceSeconds });
  if (!(await rig.settle(15_000))) log('note: not every tunnel connection was up 15 s after start');
  log(`socket: ${rig.host} via 127.0.0.1:${rig.port}; 2 connectors × ${settings.connections} tunnel connections\n`);

  const result = await runSoak(rig, settings, log);
  await rig.stop();
  await origin.proc.stop();

  const report = soakReport(result);
  log(`\nSoak results (${cpus().length} × ${cpus()[0]?.model}; clients in the soak process; shared machine: figures are noisy)\n`);
  log(report);
  for (const retry of connectorRetries) log(`- note: connector restarted: ${retry}`);

  const finishedAt = new Date();
  writeJsonAtomic(RESULTS, {
    startedAt: startedAt.toISOString(),
    finishedAt: finishedAt.toISOString(),
    durationSeconds: Math.round((finishedAt.getTime() - startedAt.getTime()) / 1000),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model, memoryGiB: +(totalmem() / 2 ** 30).toFixed(1), kernel: release(), node: process.version, busyBeforeRun: +busyBefore.toFixed(3) },
    source,
    ...result,
    connectorRetries,
    report,
  });
  log(`\nwrote ${RESULTS}`);
  if (RESULTS === DEFAULT_RESULTS) log(`wrote ${writeBenchmarksDoc(ROOT)}`);
  if (process.env.BENCH_KEEP_TMP === '1' || !result.passed) log(`kept ${dir} (process logs)`);
  else rmSync(dir, { recursive: true, force: true });
  return result.passed ? 0 : 1;
}

runBounded('soak', (SECONDS + 240) * 1000, main);
