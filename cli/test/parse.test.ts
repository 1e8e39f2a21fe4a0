import assert from 'node:assert/strict';
import { mkdtempSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { writeLogin } from '../src/credential-store.js';
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
  assert.equal(parseDuration('12h', '--expires'), 12 * 3600_000);
  assert.equal(parseDuration('30d', '--expires'), 30 * 86_400_000);
  assert.throws(() => parseDuration('soon', '--grace'), CliError);
});

test('credentials come from flags or env, with one clear line when missing', () => {
  const env = { XDG_CONFIG_HOME: mkdtempSync(join(tmpdir(), 'postern-creds-')) };
  assert.deepEqual(resolveCredentials({}, { ...env, POSTERN_EDGE: 'http://localhost:8080/', POSTERN_TOKEN: 'pst_x' }), { edgeUrls: ['http://localhost:8080'], token: 'pst_x' });
  assert.throws(() => resolveCredentials({}, { ...env, POSTERN_TOKEN: 'pst_x' }), /not logged in/);
  assert.throws(() => resolveCredentials({}, { ...env, POSTERN_EDGE: 'http://localhost:8080' }), /no token for http:\/\/localhost:8080/);
  assert.throws(() => resolveCredentials({ edge: ['ftp://x'] }, { ...env, POSTERN_TOKEN: 'pst_x' }), /must start with http/);
  assert.throws(() => resolveCredentials({ edge: ['not a url'] }, { ...env, POSTERN_TOKEN: 'pst_x' }), /must be a URL/);
  assert.throws(() => resolveCredentials({ tokenFile: '/nonexistent/token' }, { ...env, POSTERN_EDGE: 'http://localhost:8080' }), /cannot read --token-file/);
});

test('several edges: repeated --edge or a comma list in POSTERN_EDGE, each validated, duplicates dropped', () => {
  const env = { XDG_CONFIG_HOME: mkdtempSync(join(tmpdir(), 'postern-creds-')), POSTERN_TOKEN: 'pst_x' };
  const edges = (options: { edge?: string[] }, extra: Record<string, string> = {}) => resolveCredentials(options, { ...env, ...extra }).edgeUrls;
  assert.deepEqual(edges({ edge: ['https://e1.example.com/', 'https://e2.example.com:8443', 'https://e1.example.com'] }), ['https://e1.example.com', 'https://e2.example.com:8443']);
  assert.deepEqual(edges({}, { POSTERN_EDGE: 'https://e1.example.com, https://e2.example.com' }), ['https://e1.example.com', 'https://e2.example.com']);
  // The flag wins over the variable, as with one edge.
  assert.deepEqual(edges({ edge: ['https://e3.example.com'] }, { POSTERN_EDGE: 'https://e1.example.com,https://e2.example.com' }), ['https://e3.example.com']);
  const fails = (options: { edge?: string[] }, extra: Record<string, string>, message: RegExp) =>
    assert.throws(() => edges(options, extra), (e: unknown) => e instanceof CliError && message.test(e.message) && !e.message.includes('\n'));
  fails({}, { POSTERN_EDGE: 'https://e1.example.com,e2.example.com:8443' }, /^POSTERN_EDGE must start with http:\/\/ or https:\/\/, not "e2.example.com:8443" \(did you mean http:\/\/e2.example.com:8443\?\)$/);
  fails({}, { POSTERN_EDGE: 'https://e1.example.com,,https://e2.example.com' }, /^POSTERN_EDGE has an empty entry/);
  fails({ edge: ['https://e1.example.com', 'ftp://e2'] }, {}, /^--edge must start with http:\/\/ or https:\/\/, not "ftp:\/\/e2"$/);
  fails({ edge: ['https://e1.example.com,https://e2.example.com'] }, {}, /^--edge takes one URL, not "https:\/\/e1.example.com,https:\/\/e2.example.com": repeat --edge/);
});

test('a stored login is used for its own edge only, with owner-only file modes', () => {
  const env = { XDG_CONFIG_HOME: mkdtempSync(join(tmpdir(), 'postern-creds-')) };
  const path = writeLogin({ edge: 'http://localhost:8080', token: 'pst_stored', email: 'a@b.c', token_id: 'tok_1', expires_at: null }, env);
  assert.equal(statSync(path).mode & 0o777, 0o600);
  assert.equal(statSync(dirname(path)).mode & 0o777, 0o700);
  assert.deepEqual(resolveCredentials({}, env), { edgeUrls: ['http://localhost:8080'], token: 'pst_stored' });
  assert.deepEqual(resolveCredentials({}, { ...env, POSTERN_TOKEN: 'pst_env' }), { edgeUrls: ['http://localhost:8080'], token: 'pst_env' });
  // Pointing at another edge must never send it the stored token.
  assert.throws(() => resolveCredentials({ edge: ['https://other.example.com'] }, env), /no token for https:\/\/other.example.com/);
  // Edges of the same cluster may share it; a foreign host next to its edge may not.
  assert.deepEqual(resolveCredentials({ edge: ['http://localhost:8080', 'http://127.0.0.1:8081'] }, env), { edgeUrls: ['http://localhost:8080', 'http://127.0.0.1:8081'], token: 'pst_stored' });
  assert.throws(() => resolveCredentials({ edge: ['http://localhost:8080', 'https://evil.example.net'] }, env), /no token for https:\/\/evil.example.net/);
  writeFileSync(path, '{not json');
  assert.throws(() => resolveCredentials({}, env), /is damaged/);
});
