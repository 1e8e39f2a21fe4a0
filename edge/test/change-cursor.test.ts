import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ChangeCursor } from '../src/cluster/change-cursor.js';

const rows = (...seqs: number[]) => seqs.map((seq) => ({ seq }));
const seqs = (list: ReadonlyArray<{ seq: number }>) => list.map((r) => r.seq);

test('in-order changes are delivered once and the position follows them', () => {
  const cursor = new ChangeCursor(0, 1_000);
  assert.deepEqual(seqs(cursor.accept(rows(1, 2, 3), 0)), [1, 2, 3]);
  assert.equal(cursor.position, 3);
  assert.deepEqual(seqs(cursor.accept(rows(3, 4), 10)), [4]);
  assert.equal(cursor.position, 4);
});

test('a change that commits after a later one is still delivered: the position waits at the hole', () => {
  const cursor = new ChangeCursor(9, 1_000);
  assert.deepEqual(seqs(cursor.accept(rows(11, 12), 0)), [11, 12]);
  assert.equal(cursor.position, 9, 'reading on from 12 would lose 10');
  assert.deepEqual(seqs(cursor.accept(rows(11, 12), 100)), [], 'seen changes are not delivered twice');
  assert.deepEqual(seqs(cursor.accept(rows(10, 11, 12, 13), 200)), [10, 13]);
  assert.equal(cursor.position, 13);
});

test('a hole that never fills (a rolled-back transaction) is given up after giveUpMs, and only that hole', () => {
  const cursor = new ChangeCursor(0, 1_000);
  cursor.accept(rows(2), 0); // 1 is missing since t=0
  cursor.accept(rows(2, 4), 600); // 3 is missing since t=600
  assert.equal(cursor.position, 0);
  cursor.accept(rows(2, 4), 1_000);
  assert.equal(cursor.position, 2, 'hole 1 given up; hole 3 is younger');
  cursor.accept(rows(4), 1_599);
  assert.equal(cursor.position, 2);
  assert.deepEqual(seqs(cursor.accept(rows(3, 4), 1_599)), [3], 'a late commit inside the window still arrives');
  assert.equal(cursor.position, 4);
});

test('nothing at or below the starting position is delivered', () => {
  const cursor = new ChangeCursor(50, 1_000);
  assert.deepEqual(seqs(cursor.accept(rows(49, 50, 51), 0)), [51]);
});
