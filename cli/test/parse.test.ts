import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveCredentials } from '../src/credentials.js';
import { CliError } from '../src/errors.js';
import { parseDuration, parseIntInRange } from '../src/parse.js';

test('ports must be whole numbers in range', () => {
  assert.equal(parseIntInRange('3000', 1, 65535, '--port'), 3000);
  for (const bad of ['0', '65536', 'abc', '3.5', '-1', '', ' 80']) {
    assert.throws(() => parseIntInRange(bad, 1, 65535, '--port'), (e: unknown) => e instanceof CliError && e.message.startsWith('--port must be'));
  }
});

test('durations accept ms, s, m and bare seconds', () => {
  assert.equal(parseDuration('30s', '--grace'), 30_000);
  assert.equal(parseDuration('500ms', '--grace'), 500);
  assert.equal(parseDuration('2m', '--grace'), 120_000);
  assert.equal(parseDuration('5', '--grace'), 5000);
  assert.throws(() => parseDuration('soon', '--grace'), CliError);
});

test('credentials come from flags or env, with one clear line when missing', () => {
  assert.deepEqual(resolveCredentials({}, { POSTERN_EDGE: 'http://localhost:8080/', POSTERN_TOKEN: 'pst_x' }), { edgeUrl: 'http://localhost:8080', token: 'pst_x' });
  assert.throws(() => resolveCredentials({}, { POSTERN_TOKEN: 'pst_x' }), /no edge given/);
  assert.throws(() => resolveCredentials({}, { POSTERN_EDGE: 'http://localhost:8080' }), /no token given/);
  assert.throws(() => resolveCredentials({ edge: 'ftp://x' }, { POSTERN_TOKEN: 'pst_x' }), /must start with http/);
  assert.throws(() => resolveCredentials({ edge: 'not a url' }, { POSTERN_TOKEN: 'pst_x' }), /must be a URL/);
  assert.throws(() => resolveCredentials({ tokenFile: '/nonexistent/token' }, { POSTERN_EDGE: 'http://localhost:8080' }), /cannot read --token-file/);
});
