import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Backoff } from '../src/backoff.js';

test('backoff ceilings double from 0.5 s to 30 s and stay there when no connection ever worked', () => {
  const low = new Backoff({ random: () => 0 });
  const high = new Backoff({ random: () => 1 });
  const lows = Array.from({ length: 10 }, () => low.next());
  const highs = Array.from({ length: 10 }, () => high.next());
  assert.deepEqual(highs, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000, 30000]);
  assert.deepEqual(lows, highs.map((h) => h / 2));
});

test('backoff jitter spreads delays within [ceiling/2, ceiling]', () => {
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const backoff = new Backoff({ random });
  const delays = Array.from({ length: 6 }, () => backoff.next());
  const ceilings = [500, 1000, 2000, 4000, 8000, 16000];
  delays.forEach((d, i) => assert.ok(d >= ceilings[i]! / 2 && d <= ceilings[i]!, `delay ${d} outside its band`));
  assert.ok(new Set(delays.map((d, i) => d / ceilings[i]!)).size > 1, 'jitter must vary');
});

test('within 30 s of losing a working connection the delay never exceeds 1 s, then it climbs again', () => {
  let now = 0;
  const backoff = new Backoff({ random: () => 1, now: () => now });
  for (let i = 0; i < 5; i++) backoff.next(); // an edge that was down for long: ceiling 8 s
  backoff.lost();
  const recent: number[] = [];
  while (now < 30_000) {
    const delay = backoff.next();
    recent.push(delay);
    now += delay;
  }
  assert.deepEqual(recent.slice(0, 3), [500, 1000, 1000], 'starts again from the base delay');
  assert.ok(Math.max(...recent) <= 1000, `delays while recent: ${recent.join(', ')}`);
  const later = Array.from({ length: 7 }, () => backoff.next());
  assert.deepEqual(later, [1000, 2000, 4000, 8000, 16000, 30000, 30000], 'an edge down for long is not hammered');
});

test('recent-loss delays still spread over [0.5 s, 1 s]', () => {
  let now = 0;
  let seed = 7;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const backoff = new Backoff({ random, now: () => now });
  backoff.lost();
  backoff.next();
  const delays = Array.from({ length: 20 }, () => {
    const d = backoff.next();
    now += d;
    return d;
  });
  assert.ok(delays.every((d) => d >= 500 && d <= 1000), delays.join(', '));
  assert.ok(new Set(delays).size > 10, 'jitter must vary');
});
