/**
 * The soak's checks must tell the three failure kinds apart, or "0 corrupted, 0 truncated" means
 * nothing. Good answers come from the real bench origin (a separate process); bad ones from a
 * deliberately broken app in this process that truncates cleanly, cuts connections and alters bytes.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { WebSocketServer } from 'ws';
import { patternChunks, patternSha256 } from '#test-lib/pattern.js';
import { checkedDownload, checkedSse, checkedUpload, echoSession, smallGet, Tally, type Outcome } from './lib/checked.js';
import { stopAll } from './lib/procs.js';
import { startOrigin, type Origin } from './lib/targets.js';
import type { Endpoint } from './lib/transfer.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const N = 1024 * 1024;
const SEED = 7;
const SHA = patternSha256(N, SEED);

/** Which misbehaviour the broken app shows, per path, set by each test. */
let mode = '';

function brokenApp(): http.Server {
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://app');
    const chunks = (): Buffer[] => [...patternChunks(N, SEED)];
    switch (`${url.pathname} ${mode}`) {
      case '/pattern clean-short': // complete chunked framing, a quarter of the bytes
        res.writeHead(200);
        res.end(Buffer.concat(chunks()).subarray(0, N / 4));
        return;
      case '/pattern cut': // Content-Length promised, connection cut halfway
        res.writeHead(200, { 'content-length': String(N) });
        res.write(Buffer.concat(chunks()).subarray(0, N / 2), () => setTimeout(() => res.socket?.destroy(), 50));
        return;
      case '/pattern flipped': {
        const body = Buffer.concat(chunks());
        body.writeUInt8(body.readUInt8(N >> 1) ^ 1, N >> 1);
        res.writeHead(200, { 'content-length': String(N) });
        res.end(body);
        return;
      }
      case '/pattern 502':
        res.writeHead(502, { 'postern-error': 'TUNNEL_ERROR' }).end('no tunnel');
        return;
      case '/sha256 short':
        req.resume();
        req.on('end', () => res.end(JSON.stringify({ sha256: SHA, length: N - 1 })));
        return;
      case '/sha256 altered':
        req.resume();
        req.on('end', () => res.end(JSON.stringify({ sha256: '0'.repeat(64), length: N })));
        return;
      case '/sse gap':
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end('id: 0\ndata: 0\n\nid: 2\ndata: 2\n\nevent: end\ndata: 3\n\n');
        return;
      case '/sse clean-short':
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.end('id: 0\ndata: 0\n\nid: 1\ndata: 1\n\n');
        return;
      case '/sse cut':
        res.writeHead(200, { 'content-type': 'text/event-stream' });
        res.write('id: 0\ndata: 0\n\n', () => setTimeout(() => res.socket?.destroy(), 50));
        return;
      case '/small swapped':
        res.end('small someone-else\n');
        return;
      case '/small clean-short':
        res.end('small ');
        return;
      default:
        res.writeHead(404).end();
    }
  });
  const wss = new WebSocketServer({ server, perMessageDeflate: false });
  wss.on('connection', (ws) => {
    ws.on('message', (data: Buffer, isBinary) => {
      if (mode === 'ws-short') ws.send(data.subarray(0, data.length - 1), { binary: isBinary });
      else if (mode === 'ws-altered') ws.send(Buffer.concat([Buffer.from('x'), data.subarray(1)]), { binary: isBinary });
      else ws.terminate(); // ws-cut
    });
  });
  return server;
}

let origin: Origin;
let good: Endpoint;
let bad: Endpoint;
let app: http.Server;
const sockets = new Set<Socket>();
const dir = mkdtempSync(join(tmpdir(), 'postern-checked-test-'));

before(async () => {
  origin = await startOrigin(ROOT, dir);
  good = { port: origin.port, host: undefined };
  app = brokenApp();
  app.on('connection', (s: Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((done) => app.listen(0, '127.0.0.1', done));
  bad = { port: (app.address() as AddressInfo).port, host: undefined };
});

after(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((done) => app.close(() => done()));
  await stopAll(3000);
  rmSync(dir, { recursive: true, force: true });
});

const severity = (o: Outcome): string => (o.ok ? 'ok' : o.severity);

describe('soak checks against the real bench origin', () => {
  it('pass complete, correct answers of every kind', { timeout: 60_000 }, async () => {
    assert.deepEqual(await checkedDownload(good, N, SEED, SHA, 20_000), { ok: true, units: 1, bytes: N });
    assert.deepEqual(await checkedUpload(good, N, SEED, SHA, 20_000), { ok: true, units: 1, bytes: N });
    let events = 0;
    assert.equal(severity(await checkedSse(good, 5, 10, (n) => (events += n))), 'ok');
    assert.equal(events, 5);
    const agent = new http.Agent({ keepAlive: true });
    assert.deepEqual(await smallGet(good, agent, 'abc-1', 5000), { ok: true, units: 1, bytes: 'small abc-1\n'.length });
    agent.destroy();
    const outcomes: Outcome[] = [];
    await echoSession(good, { messages: 20, maxBytes: 256 * 1024, pauseMs: 0, timeoutMs: 10_000, going: () => true }, (o) => outcomes.push(o));
    assert.deepEqual(outcomes.map(severity), Array(20).fill('ok'));
  });

  it('flag a download checked against another transfer\'s hash as corrupt', { timeout: 30_000 }, async () => {
    const outcome = await checkedDownload(good, N, SEED + 1, SHA, 20_000);
    assert.equal(severity(outcome), 'corrupt');
  });
});

describe('soak checks against a broken app', () => {
  const cases: Array<[string, string, () => Promise<Outcome>]> = [
    ['clean-short', 'truncated', () => checkedDownload(bad, N, SEED, SHA, 10_000)],
    ['cut', 'error', () => checkedDownload(bad, N, SEED, SHA, 10_000)],
    ['flipped', 'corrupt', () => checkedDownload(bad, N, SEED, SHA, 10_000)],
    ['502', 'error', () => checkedDownload(bad, N, SEED, SHA, 10_000)],
    ['short', 'truncated', () => checkedUpload(bad, N, SEED, SHA, 10_000)],
    ['altered', 'corrupt', () => checkedUpload(bad, N, SEED, SHA, 10_000)],
    ['gap', 'corrupt', () => checkedSse(bad, 3, 10, () => undefined)],
    ['clean-short', 'truncated', () => checkedSse(bad, 3, 10, () => undefined)],
    ['cut', 'error', () => checkedSse(bad, 3, 10, () => undefined)],
    ['swapped', 'corrupt', () => smallGet(bad, new http.Agent(), 'mine', 5000)],
    ['clean-short', 'truncated', () => smallGet(bad, new http.Agent(), 'mine', 5000)],
  ];
  for (const [which, expected, check] of cases) {
    it(`${expected}: ${which}`, { timeout: 20_000 }, async () => {
      mode = which;
      const outcome = await check();
      assert.equal(severity(outcome), expected, JSON.stringify(outcome));
    });
  }

  for (const [which, expected] of [['ws-short', 'truncated'], ['ws-altered', 'corrupt'], ['ws-cut', 'error']] as const) {
    it(`${expected}: WebSocket echo ${which}`, { timeout: 20_000 }, async () => {
      mode = which;
      const outcomes: Outcome[] = [];
      await echoSession(bad, { messages: 3, maxBytes: 4096, pauseMs: 0, timeoutMs: 5000, going: () => true }, (o) => outcomes.push(o));
      // An empty message cannot be shortened or altered: the first non-empty one decides.
      const decided = outcomes.find((o) => !o.ok);
      assert.equal(decided && severity(decided), expected, JSON.stringify(outcomes));
    });
  }

  it('counts truncated and corrupt as integrity failures, clean errors apart', () => {
    const tally = new Tally(['download']);
    tally.record('download', { ok: true, units: 1, bytes: 10 });
    tally.record('download', { ok: false, severity: 'error', reason: 'HTTP 502', detail: 'HTTP 502' });
    tally.record('download', { ok: false, severity: 'truncated', reason: 'short', detail: 'short' });
    tally.record('download', { ok: false, severity: 'corrupt', reason: 'sha', detail: 'sha' });
    assert.equal(tally.integrityFailures(), 2);
    assert.equal(tally.cleanErrors(), 1);
    assert.deepEqual(tally.summary().download!.errors, { 'HTTP 502': 1 });
  });
});
