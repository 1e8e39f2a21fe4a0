import assert from 'node:assert/strict';
import { test } from 'node:test';
import { stripVTControlCharacters } from 'node:util';
import type { RequestLogEntry } from '@postern/connector';
import { clock, formatDuration, printable, requestLine } from '../src/request-line.js';

const at = new Date(2024, 0, 2, 9, 3, 4);
const entry = (fields: Partial<RequestLogEntry> = {}): RequestLogEntry => ({
  kind: 'request',
  slot: 0,
  time: at,
  email: 'alice@corp.com',
  method: 'GET',
  path: '/api/dashboards',
  status: 200,
  durationMs: 12,
  bytesOut: 10,
  ...fields,
});
const line = (e: RequestLogEntry, userWidth = 16, pathWidth = 20) => stripVTControlCharacters(requestLine(e, { userWidth, pathWidth }));

test('request line: aligned columns of time, user, method, path, status and duration', () => {
  assert.equal(line(entry()), '09:03:04  alice@corp.com    GET      /api/dashboards       200  12 ms');
  assert.equal(line(entry({ method: 'DELETE', path: '/x', status: 404, durationMs: 1234 })), '09:03:04  alice@corp.com    DELETE   /x                    404  1.2 s');
});

test('request line: "-" for an anonymous user; long paths and emails cut with …', () => {
  assert.equal(line(entry({ email: null, path: '/a/very/long/path/that/goes/on' }), 1), '09:03:04  -  GET      /a/very/long/path/t…  200  12 ms');
  assert.equal(line(entry({ email: 'someone.with.a.long.name@corp.com' }), 12).split('  ')[1], 'someone.wit…');
});

test('request line: a WebSocket close says so', () => {
  assert.match(line(entry({ kind: 'websocket_close', method: 'GET', path: '/ws', status: 101, durationMs: 65_000 })), /101  1 min 5 s  websocket closed$/);
});

test('request line: control characters from a path or email never reach the terminal', () => {
  const hostile = entry({ path: '/\u001b[2J\u009b31m', email: 'x\u0007@y' });
  const raw = requestLine(hostile, { userWidth: 16, pathWidth: 20 });
  assert.doesNotMatch(stripVTControlCharacters(raw), /[\u0000-\u001f\u007f-\u009f]/);
  assert.equal(printable('/a\u0000b\u007fc\u0085'), '/a?b?c?');
});

test('request line: durations and the clock', () => {
  assert.deepEqual(
    [0, 999, 1000, 59_949, 60_000, 119_600, 3_725_000].map(formatDuration),
    ['0 ms', '999 ms', '1.0 s', '59.9 s', '1 min 0 s', '2 min 0 s', '62 min 5 s'],
  );
  assert.equal(clock(new Date(2024, 0, 1, 0, 0, 9)), '00:00:09');
});
