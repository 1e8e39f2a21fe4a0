import assert from 'node:assert/strict';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { LiveConnections } from '../src/auth/live-connections.js';

test('closing credentials destroys their connections and tells every listener, so caches forget them too', () => {
  const live = new LiveConnections(() => true);
  const heard: string[][] = [];
  live.onClose((credentials) => heard.push([...credentials]));
  const a = new PassThrough();
  const b = new PassThrough();
  live.add('token:tok_a', 'sck_1', a);
  live.add('session-hash', 'sck_1', b);
  live.close(['token:tok_a']);
  assert.equal(a.destroyed, true);
  assert.equal(b.destroyed, false);
  assert.deepEqual(heard, [['token:tok_a']]);
  live.close(['token:tok_unused']);
  assert.deepEqual(heard[1], ['token:tok_unused'], 'also for credentials with no open connection (a revoked token used only for plain requests)');
  live.stop();
});
