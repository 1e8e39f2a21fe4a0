import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { readConfig } from '../src/config-sockets.js';
import { CliError } from '../src/errors.js';
import { requestLine } from '../src/request-line.js';

const dir = mkdtempSync(join(tmpdir(), 'config-sockets-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(text: string): string {
  const path = join(dir, `p${Math.random().toString(36).slice(2)}.yaml`);
  writeFileSync(path, text);
  return path;
}

test('readConfig: targets from to:, rewrite_host true as the target authority or as written', () => {
  const entries = readConfig(
    file(
      [
        'sockets:',
        '  - {name: a, to: "http://127.0.0.1:3000", rewrite_host: true}',
        '  - {name: b, to: "http://localhost", rewrite_host: "app.internal:8080"}',
        '  - {name: c, to: "tcp://[::1]:22"}',
      ].join('\n'),
    ),
  );
  assert.deepEqual(
    entries.map((e) => [e.spec.name, e.spec.protocol, e.target, e.hostRewrite]),
    [
      ['a', 'http', { host: '127.0.0.1', port: 3000 }, '127.0.0.1:3000'],
      ['b', 'http', { host: 'localhost', port: 80 }, 'app.internal:8080'],
      ['c', 'tcp', { host: '::1', port: 22 }, undefined],
    ],
  );
});

test('readConfig: problems name the file, line and key, in one line', () => {
  const cases: Array<[string, RegExp]> = [
    ['sockets:\n  - name: a\n    to: http://127.0.0.1:1\n    colour: blue\n', /:4:5: sockets\[0\]\.colour/],
    ['sockets:\n  - name: a\n    to: ftp://127.0.0.1:1\n', /:3:5: sockets\[0\]\.to: /],
    ['sockets:\n  - name: a\n    to: http://127.0.0.1:1\n  - name: b\n    cloudauth: true\n', /:4:5: sockets\[1\]\.to: connect --config needs the local target of "b"/],
    ['sockets: []\n', /lists no sockets/],
  ];
  for (const [text, message] of cases) {
    const path = file(text);
    assert.throws(() => readConfig(path), (e: unknown) => e instanceof CliError && e.message.startsWith(path) && message.test(e.message) && !e.message.includes('\n'), text);
  }
});

test('a request line of connect --config names its socket after the time', () => {
  const entry = { kind: 'request' as const, slot: 0, time: new Date(2026, 0, 1, 9, 5, 7), email: 'a@b.c', method: 'GET', path: '/x', status: 200, durationMs: 3, bytesOut: 1 };
  const line = requestLine(entry, { userWidth: 8, pathWidth: 16, label: 'grafana     ' });
  assert.match(line, /^09:05:07 {2}grafana {5} {2}a@b\.c/);
  assert.ok(!requestLine(entry, { userWidth: 8, pathWidth: 16 }).includes('grafana'));
});
