import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff } from '../src/backoff.js';

test('backoff ceilings double from 0.5 s to 30 s and stay there', () => {
  const low = new Backoff(500, 30_000, () => 0);
  const high = new Backoff(500, 30_000, () => 1);
  const lows = Array.from({ length: 10 }, () => low.next());
  const highs = Array.from({ length: 10 }, () => high.next());
  assert.deepEqual(highs, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
  assert.deepEqual(lows, highs.map((h) => h / 2));
});

test('backoff jitter spreads delays within [ceiling/2, ceiling]', () => {
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const backoff = new Backoff(500, 30_000, random);
  const delays = Array.from({ length: 6 }, () => backoff.next());
  const ceilings = [500, 1000, 2000, 4000, 8000, 16000];
  delays.forEach((d, i) => assert.ok(d >= ceilings[i]! / 2 && d <= ceilings[i]!, `delay ${d} outside its band`));
  assert.ok(new Set(delays.map((d, i) => d / ceilings[i]!)).size > 1, 'jitter must vary');
});

test('reset starts again from the base delay', () => {
  const backoff = new Backoff(500, 30_000, () => 1);
  backoff.next();
  backoff.next();
  backoff.next();
  backoff.reset();
  assert.equal(backoff.next(), 500);
});
