import assert from 'node:assert/strict';
import { test } from 'node:test';
import { requestLogEntry } from '../src/request-log.js';

const wire = {
  t: 'request',
  ts: 1_700_000_000_123,
  method: 'POST',
  path: '/api/items',
  status: 201,
  duration_ms: 12,
  email: 'alice@corp.com',
  bytes_out: 42,
};

test('request event: a well-formed event becomes a typed entry with its slot', () => {
  assert.deepEqual(requestLogEntry(wire, 1), {
    kind: 'request',
    slot: 1,
    time: new Date(1_700_000_000_123),
    email: 'alice@corp.com',
    method: 'POST',
    path: '/api/items',
    status: 201,
    durationMs: 12,
    bytesOut: 42,
  });
  assert.equal(requestLogEntry({ ...wire, t: 'websocket_close', status: 101, email: null }, 0)?.kind, 'websocket_close');
});

test('request event: unknown fields are ignored (a newer edge may add some)', () => {
  assert.equal(requestLogEntry({ ...wire, region: 'eu' }, 0)?.path, '/api/items');
});

test('request event: an unknown kind or a field of the wrong type is skipped, never thrown', () => {
  const bad: Array<Record<string, unknown>> = [
    { ...wire, t: 'metrics' },
    { ...wire, t: undefined },
    { ...wire, ts: '2024-01-01' },
    { ...wire, method: 1 },
    { ...wire, path: null },
    { ...wire, status: 200.5 },
    { ...wire, status: 42 },
    { ...wire, duration_ms: -1 },
    { ...wire, duration_ms: Number.NaN },
    { ...wire, email: 7 },
    { ...wire, bytes_out: '10' },
  ];
  for (const event of bad) assert.equal(requestLogEntry(event, 0), undefined, JSON.stringify(event));
});
