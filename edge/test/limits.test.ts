import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { PassThrough, Writable } from 'node:stream';
import { test } from 'node:test';
import { EdgeError } from '../src/errors.js';
import { LimitReporter } from '../src/limits/reporter.js';
import { connectionsCheckingInterval, headersKeptByNode, tooManyHeaders } from '../src/limits/request-head.js';
import { RequestBodyGuard, type BodyViolation } from '../src/limits/request-body.js';
import { ResetRate } from '../src/limits/reset-rate.js';
import { formatByteSize, parseByteSize } from '../src/limits/size.js';
import { StreamQuota } from '../src/limits/stream-quota.js';
import type { TunnelConnection } from '../src/tunnel/connection.js';
import { TunnelRegistry } from '../src/tunnel/registry.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

test('byte sizes parse with binary and decimal units, any case, and refuse anything else', () => {
  const table: Array<[string | number, number | undefined]> = [
    ['0', 0],
    ['512', 512],
    ['512B', 512],
    ['64KiB', 64 * 1024],
    ['64k', 64 * 1024],
    ['50MiB', 50 * 1024 ** 2],
    ['50 mib', 50 * 1024 ** 2],
    ['1GiB', 1024 ** 3],
    ['1G', 1024 ** 3],
    ['1TiB', 1024 ** 4],
    ['2MB', 2_000_000],
    ['1.5GB', 1_500_000_000],
    ['1.5KiB', 1536],
    [1048576, 1048576],
    ['1.3B', undefined],
    ['0.5', undefined],
    ['-1', undefined],
    ['lots', undefined],
    ['10 XB', undefined],
    ['', undefined],
    ['1e6', undefined],
    [-5, undefined],
    [1.5, undefined],
    ['99999999999TiB', undefined],
  ];
  for (const [input, expected] of table) assert.equal(parseByteSize(input), expected, JSON.stringify(input));
});

test('byte sizes print in the largest exact binary unit', () => {
  assert.equal(formatByteSize(1024 ** 3), '1GiB');
  assert.equal(formatByteSize(256 * 1024), '256KiB');
  assert.equal(formatByteSize(1536), '1536B');
  assert.equal(formatByteSize(1_500_000_000), '1500000000B');
  assert.equal(formatByteSize(3 * 1024 ** 4), '3TiB');
  for (const n of [1, 1000, 4096, 50 * 1024 ** 2, 123_456_789]) assert.equal(parseByteSize(formatByteSize(n)), n, 'round trip');
});

test('a stream quota gives each key at most max slots; releases are idempotent and free the key', () => {
  const quota = new StreamQuota(2);
  const a1 = quota.acquire('a');
  const a2 = quota.acquire('a');
  assert.ok(a1 && a2);
  assert.equal(quota.acquire('a'), undefined, 'a third slot is refused');
  const b1 = quota.acquire('b');
  assert.ok(b1, 'another key has its own slots');
  a1();
  a1();
  assert.equal(quota.count('a'), 1, 'a release counts once');
  const a3 = quota.acquire('a');
  assert.ok(a3);
  a2();
  a3();
  b1();
  assert.equal(quota.size, 0, 'no empty keys are kept');
});

test('the reset rate refuses a key past max aborts per window, tells when to come back, and refills', () => {
  let now = 0;
  const rate = new ResetRate(5, 10_000, () => now);
  for (let i = 0; i < 4; i++) rate.record('1.2.3.4');
  assert.equal(rate.retryAfter('1.2.3.4'), 0, 'under the limit');
  rate.record('1.2.3.4');
  assert.equal(rate.retryAfter('1.2.3.4'), 2, 'empty bucket: one token comes back in 2 s');
  assert.equal(rate.retryAfter('5.6.7.8'), 0, 'other addresses are not affected');
  now += 1_000;
  assert.equal(rate.retryAfter('1.2.3.4'), 1);
  now += 1_000;
  assert.equal(rate.retryAfter('1.2.3.4'), 0, 'a token came back');
  rate.record('1.2.3.4');
  assert.ok(rate.retryAfter('1.2.3.4') >= 1);
  now += 60_000;
  for (let i = 0; i < 4; i++) rate.record('1.2.3.4');
  assert.equal(rate.retryAfter('1.2.3.4'), 0, 'the bucket refilled to the full window, no more');
});

test('the reset rate keeps memory bounded: full buckets are dropped when room is needed', () => {
  let now = 0;
  const rate = new ResetRate(2, 1_000, () => now);
  for (let i = 0; i < 10_000; i++) rate.record(`10.0.${i >> 8}.${i & 255}`);
  now += 5_000;
  rate.record('192.0.2.1');
  assert.equal(rate.size, 1, 'every refilled bucket was forgotten');
});

test('the limit reporter logs the first hit of a limit per key, then at most one line a minute with the count it kept quiet', () => {
  const lines: Array<[Record<string, unknown>, string]> = [];
  const counted: string[] = [];
  let now = 0;
  const reporter = new LimitReporter({ warn: (obj: object, msg: string) => lines.push([obj as Record<string, unknown>, msg]) } as never, () => now, (limit) => counted.push(limit));
  for (let i = 0; i < 1000; i++) reporter.hit('body_size', 'sck_1 1.2.3.4', 'request body over the limit', { client: '1.2.3.4' });
  assert.equal(lines.length, 1);
  assert.deepEqual(lines[0], [{ limit: 'body_size', client: '1.2.3.4' }, 'request body over the limit']);
  reporter.hit('body_size', 'sck_1 5.6.7.8', 'request body over the limit', { client: '5.6.7.8' });
  reporter.hit('header_count', '1.2.3.4', 'too many headers');
  assert.equal(lines.length, 3, 'another key or another limit has its own line');
  now += 59_999;
  reporter.hit('body_size', 'sck_1 1.2.3.4', 'request body over the limit', { client: '1.2.3.4' });
  assert.equal(lines.length, 3);
  now += 1;
  reporter.hit('body_size', 'sck_1 1.2.3.4', 'request body over the limit', { client: '1.2.3.4' });
  assert.equal(lines.length, 4);
  assert.equal(lines[3]![0].suppressed, 1000, 'the next line counts the hits not logged');
  assert.equal(counted.length, 1004, 'the metrics counter sees every hit, logged or not');
  assert.equal(counted.filter((limit) => limit === 'header_count').length, 1);
});

test('too many header fields are seen through the one extra field Node keeps', () => {
  const reporter = new LimitReporter({ warn: () => undefined } as never);
  const req = (fields: number) => ({ rawHeaders: Array.from({ length: fields }, (_, i) => [`x-${i}`, 'v']).flat(), socket: { remoteAddress: '127.0.0.1' } }) as unknown as IncomingMessage;
  assert.equal(headersKeptByNode(100), 101);
  assert.equal(tooManyHeaders(req(100), 100, reporter), undefined);
  const err = tooManyHeaders(req(headersKeptByNode(100)), 100, reporter);
  assert.ok(err instanceof EdgeError);
  assert.equal(err.status, 431);
  assert.equal(err.headers.connection, 'close');
});

test('the header timeout is checked at a fraction of itself, between 100 ms and 5 s', () => {
  assert.equal(connectionsCheckingInterval(30_000), 5_000);
  assert.equal(connectionsCheckingInterval(1_000), 250);
  assert.equal(connectionsCheckingInterval(200), 100);
});

/** A client body stand-in: what the guard reads from, with IncomingMessage's `complete`. */
function clientBody(): PassThrough & { complete: boolean } {
  return Object.assign(new PassThrough(), { complete: false });
}

function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
  });
}

test('the body guard passes a body under the limit through unchanged', async () => {
  const source = clientBody();
  const guard = new RequestBodyGuard(source as unknown as IncomingMessage, { maxBytes: 100, idleMs: 10_000, onViolation: () => assert.fail('no violation') });
  const got = collect(guard);
  source.write(Buffer.alloc(60, 1));
  source.end(Buffer.alloc(40, 2));
  const body = await got;
  assert.equal(body.length, 100);
  assert.equal(guard.violation, undefined);
});

test('the body guard fails a body crossing the limit with 413, once, and stops reading the client', async () => {
  const source = clientBody();
  const seen: BodyViolation[] = [];
  const guard = new RequestBodyGuard(source as unknown as IncomingMessage, { maxBytes: 100, idleMs: 10_000, onViolation: (limit) => seen.push(limit) });
  const got = collect(guard);
  source.write(Buffer.alloc(60));
  source.write(Buffer.alloc(60));
  source.write(Buffer.alloc(60));
  await assert.rejects(got, (err: unknown) => err instanceof EdgeError && err.code === 'BODY_TOO_LARGE');
  assert.deepEqual(seen, ['body_size']);
  assert.equal(guard.violation?.status, 413);
  assert.equal(source.listenerCount('data') > 0 || source.readableFlowing === true, true, 'the rest of the body is drained, not left to pile up');
});

test('the body guard times out a client that stops sending, but not while the reader applies backpressure', async () => {
  const stalled = clientBody();
  const seen: BodyViolation[] = [];
  const guard = new RequestBodyGuard(stalled as unknown as IncomingMessage, { maxBytes: 1 << 20, idleMs: 100, onViolation: (limit) => seen.push(limit) });
  const got = collect(guard);
  stalled.write(Buffer.alloc(10));
  await assert.rejects(got, (err: unknown) => err instanceof EdgeError && err.code === 'REQUEST_TIMEOUT');
  assert.deepEqual(seen, ['body_idle_timeout']);

  // A reader that takes nothing for 5 idle periods: the client is blocked by us, not idle.
  const busy = clientBody();
  const patient = new RequestBodyGuard(busy as unknown as IncomingMessage, { maxBytes: 1 << 30, idleMs: 100, onViolation: () => assert.fail('backpressure is not idleness') });
  for (let i = 0; i < 64; i++) busy.write(Buffer.alloc(16 * 1024));
  await sleep(500);
  let taken = 0;
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      taken += chunk.length;
      done();
    },
  });
  patient.pipe(sink);
  busy.end();
  await new Promise((resolve) => sink.on('finish', resolve));
  assert.equal(taken, 64 * 16 * 1024);
  assert.equal(patient.violation, undefined);
});

test('the registry skips full connections and tells busy from offline', () => {
  const conn = (streamsInUse: number, usable = true) => ({ info: { socketId: 's' }, usable, streamsInUse, inFlight: streamsInUse }) as unknown as TunnelConnection;
  const registry = new TunnelRegistry(4);
  assert.equal(registry.isBusy('s'), false, 'no connection: offline, not busy');
  const full = conn(4);
  const free = conn(3);
  registry.add(full);
  assert.equal(registry.pick('s'), undefined);
  assert.equal(registry.isBusy('s'), true);
  registry.add(free);
  assert.equal(registry.pick('s'), free);
  assert.equal(registry.isBusy('s'), false);
  assert.equal(registry.pick('s', free), undefined, 'the retry does not fall back to a full one');
  registry.remove(full);
  registry.remove(free);
  registry.add(conn(0, false));
  assert.equal(registry.isBusy('s'), false, 'only draining connections: offline, not busy');
});
