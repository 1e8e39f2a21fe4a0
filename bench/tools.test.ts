/**
 * The bench's readers of other tools' output: wrk (run for real against a local server), perf stat
 * (its CSV), and a real V8 CPU profile. Each must give the right figures, and fail loudly on output
 * it does not understand instead of reporting zeros.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { breakdown, shortUrl, type CpuProfile } from './lib/cpu-profile.js';
import { parsePerfStat } from './lib/syscalls.js';
import { parseWrkOutput, runWrk } from './lib/wrk.js';

const dir = mkdtempSync(join(tmpdir(), 'postern-bench-tools-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('wrk', () => {
  it('a real run: the figures match what the server answered, 4xx answers are counted apart, the Host header is ours', { timeout: 30_000 }, async () => {
    let served = 0;
    let failed = 0;
    const hosts = new Set<string>();
    const server = http.createServer((req, res) => {
      hosts.add(String(req.headers.host));
      if (req.url === '/fail') {
        failed++;
        res.writeHead(503).end('no');
        return;
      }
      served++;
      res.end('hello, world\n');
    });
    await new Promise<void>((done) => server.listen(0, '127.0.0.1', done));
    const port = (server.address() as AddressInfo).port;
    try {
      // wrk is required here as in the bench: .ci/run installs it.
      const ok = await runWrk({ port, host: 'bench-x.localhost:1234' }, { connections: 4, seconds: 1 });
      assert.ok(ok.figures.requests > 50, `only ${ok.figures.requests} requests in 1 s`);
      assert.ok(Math.abs(ok.figures.requests - served) <= 4, `wrk counted ${ok.figures.requests}, the server answered ${served}`);
      assert.equal(ok.figures.status, 0);
      assert.ok(ok.figures.p50 > 0 && ok.figures.p50 <= ok.figures.p99 && ok.figures.p99 <= ok.figures.max);
      assert.ok(ok.cpuSeconds >= 0 && ok.cpuSeconds < 5);
      assert.deepEqual([...hosts], ['bench-x.localhost:1234'], 'exactly one Host header, ours');
      const bad = await runWrk({ port, host: undefined }, { connections: 2, seconds: 1, path: '/fail' });
      assert.ok(bad.figures.status > 0 && Math.abs(bad.figures.status - failed) <= 2, `wrk counted ${bad.figures.status} errors, the server failed ${failed}`);
    } finally {
      server.close();
    }
  });

  it('refuses output without the figures line', () => {
    assert.throws(() => parseWrkOutput('Running 1s test @ http://127.0.0.1:1/\n  2 threads and 4 connections\n'), /wrk printed no figures/);
    assert.throws(() => parseWrkOutput('POSTERN_WRK {"requests":1}\n'), /without a number for durationUs/);
  });
});

describe('perf stat', () => {
  it('reads the total and the named calls, and skips the ones that did not happen', () => {
    const text = [
      '3394,,raw_syscalls:sys_enter,67032975,100.00,,',
      '571,,syscalls:sys_enter_read,67032975,100.00,,',
      '0,,syscalls:sys_enter_writev,67032975,100.00,,',
      '5,,syscalls:sys_enter_futex,67010868,100.00,,',
    ].join('\n');
    assert.deepEqual(parsePerfStat(text, 2), { total: 3394, byName: { read: 571, futex: 5 }, seconds: 2 });
  });

  it('fails on output without a total (perf refused to count)', () => {
    assert.throws(() => parsePerfStat('<not supported>,,raw_syscalls:sys_enter,0,100.00,,\n', 1), /no raw_syscalls:sys_enter count/);
  });
});

describe('CPU profile breakdown', () => {
  it('a real profile: the busy function dominates its layer, and idle samples are left out', { timeout: 30_000 }, () => {
    const script = join(dir, 'hot.mjs');
    writeFileSync(
      script,
      `function hotLoop(ms) { const end = Date.now() + ms; let x = 0; while (Date.now() < end) x += Math.sqrt(x + 1); return x; }
hotLoop(400);
setTimeout(() => hotLoop(100), 300);
`,
    );
    const profDir = join(dir, 'prof');
    const run = spawnSync(process.execPath, ['--cpu-prof', `--cpu-prof-dir=${profDir}`, '--cpu-prof-interval=500', script], { timeout: 20_000 });
    assert.equal(run.status, 0, String(run.stderr));
    const profile = JSON.parse(readFileSync(join(profDir, readdirSync(profDir)[0]!), 'utf8')) as CpuProfile;
    const all = breakdown(profile);
    assert.ok(all.samples > 500, `${all.samples} samples`);
    assert.ok(all.busyShare < 0.95, 'the 300 ms timer wait shows as idle');
    assert.equal(all.top[0]?.name, 'hotLoop');
    assert.match(all.top[0]!.where, /hot\.mjs:1$/);
    assert.equal(all.layers[0]?.name, 'other JavaScript');
    assert.ok(all.layers[0]!.share > 0.8);
    const total = all.layers.reduce((sum, l) => sum + l.share, 0);
    assert.ok(Math.abs(total - 1) < 1e-9, `layer shares add up to ${total}`);
    // A window before the profile started holds no samples.
    assert.equal(breakdown(profile, { toUs: profile.startTime - 1 }).samples, 0);
  });

  it('sorts frames into the layers of the request path', () => {
    const frame = (id: number, functionName: string, url: string) => ({ id, callFrame: { functionName, url, lineNumber: 0 } });
    const profile: CpuProfile = {
      nodes: [
        frame(1, '(idle)', ''),
        frame(2, 'execute', 'file:///srv/postern/node_modules/undici/lib/dispatcher/client-h1.js'),
        frame(3, 'handleData', 'file:///srv/postern/shared/dist/src/session.js'),
        frame(4, 'writev', ''),
        frame(5, 'upstreamRequestHeaders', 'file:///srv/postern/edge/dist/src/proxy/headers.js'),
      ],
      startTime: 0,
      endTime: 50,
      samples: [1, 2, 2, 3, 4, 5],
      timeDeltas: [10, 10, 10, 10, 5, 5],
    };
    const b = breakdown(profile);
    assert.equal(b.samples, 6);
    assert.deepEqual(
      Object.fromEntries(b.layers.map((l) => [l.name, l.share])),
      {
        "undici: the HTTP/1.1 client parsing the app's answer": 0.4,
        'mux session and streams (shared/)': 0.2,
        'socket writes and reads (native, syscalls included)': 0.2,
        'edge: routing, policy, headers, limits, logs (edge/)': 0.2,
      },
    );
    assert.equal(breakdown(profile, { fromUs: 35 }).samples, 3);
    assert.equal(shortUrl('file:///srv/postern/edge/dist/src/proxy/headers.js'), 'edge/src/proxy/headers.js');
    assert.equal(shortUrl('file:///x/node_modules/undici/lib/a.js'), 'undici/lib/a.js');
  });
});
