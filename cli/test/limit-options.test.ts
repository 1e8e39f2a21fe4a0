import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CliError } from '../src/errors.js';
import { describeBodyLimit, limitsBody } from '../src/limit-options.js';

test('--max-body-size takes a size with units, or "default" for the edge default; without it nothing changes', () => {
  assert.deepEqual(limitsBody({}), {});
  assert.deepEqual(limitsBody({ maxBodySize: '50MiB' }), { max_body_bytes: 50 * 1024 * 1024 });
  assert.deepEqual(limitsBody({ maxBodySize: '2GB' }), { max_body_bytes: 2_000_000_000 });
  assert.deepEqual(limitsBody({ maxBodySize: '1048576' }), { max_body_bytes: 1048576 });
  assert.deepEqual(limitsBody({ maxBodySize: 'Default' }), { max_body_bytes: null });
});

test('--max-body-size refuses what is not a size from 1 byte to 1 TiB, naming the flag', () => {
  for (const bad of ['lots', '0', '-1MiB', '2TiB', '1.5', '']) {
    assert.throws(() => limitsBody({ maxBodySize: bad }), (e: unknown) => e instanceof CliError && e.message.startsWith('--max-body-size must be a size'), bad);
  }
});

test('a body limit reads as the size or as the edge default', () => {
  assert.equal(describeBodyLimit({ max_body_bytes: null }), "the edge's default");
  assert.equal(describeBodyLimit({ max_body_bytes: 100 * 1024 }), '100KiB');
});
