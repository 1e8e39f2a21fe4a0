import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { LiveConnections } from '../src/auth/live-connections.js';

test('closing credentials destroys their connections only', () => {
  const live = new LiveConnections(async () => true);
  const a = new PassThrough();
  const b = new PassThrough();
  live.add('token:tok_a', 'sck_1', a);
  live.add('session-hash', 'sck_1', b);
  live.close(['token:tok_a']);
  assert.equal(a.destroyed, true);
  assert.equal(b.destroyed, false);
  live.close(['token:tok_unused']); // nothing open: nothing happens
  assert.equal(b.destroyed, false);
  live.stop();
});

test('the sweep asks about every open credential and closes those that ended; a failing lookup closes nothing', async () => {
  let failing = false;
  const asked: string[] = [];
  const live = new LiveConnections(async (credential) => {
    asked.push(credential);
    if (failing) throw new Error('store away');
    return credential !== 'ended';
  }, 3_600_000);
  const ended = new PassThrough();
  const kept = new PassThrough();
  live.add('ended', 'sck_1', ended);
  live.add('kept', 'sck_1', kept);
  failing = true;
  await live.sweep();
  assert.equal(ended.destroyed, false, 'no answer is not an answer');
  failing = false;
  await live.sweep();
  assert.equal(ended.destroyed, true);
  assert.equal(kept.destroyed, false);
  assert.deepEqual(asked, ['ended', 'ended', 'kept']);
  live.stop();
});
