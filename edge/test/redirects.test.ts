import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseReturnTarget, safeLocalPath } from '../src/auth/redirects.js';

const known = new Set(['http://app-x1.localhost:8080']);
const parse = (raw: string) => parseReturnTarget(raw, (o) => known.has(o));

test('relative paths on the same host are kept', () => {
  assert.equal(safeLocalPath('/dashboard?tab=1#x'), '/dashboard?tab=1#x');
  assert.equal(safeLocalPath('/a/../b'), '/b');
});

const OFFSITE = [
  '//evil.com', '///evil.com', '/\\evil.com', '\\\\evil.com', '/\t/evil.com', '/%2f%2fevil.com', '/%5cevil.com',
  'https://evil.com', 'http:evil.com', 'javascript:alert(1)', 'data:text/html,x', ' /x', 'evil.com', '',
  'http://app-x1.localhost:8080@evil.com', 'http://evil.com#@app-x1.localhost:8080', 'http://app-x1.localhost:8080.evil.com/',
  'https://app-x1.localhost:8080/', 'http://user:pw@app-x1.localhost:8080/', 'http://APP-X1.localhost:8081/',
  // Plain paths whose dot segments normalise to a protocol-relative `//evil.com` (found by test/security-redirects.test.ts).
  '/.//evil.com', '/a/..//evil.com', '/%2e//evil.com', '/%2e%2e//evil.com', '/././/evil.com', '/../../..//evil.com', '/.%2e//evil.com',
];
for (const raw of OFFSITE) {
  test(`an off-site target falls back to /: ${JSON.stringify(raw)}`, () => {
    assert.deepEqual(parse(raw), { socketOrigin: null, path: '/' });
  });
}

test('an exact known socket origin is accepted with its path', () => {
  assert.deepEqual(parse('http://app-x1.localhost:8080/grafana/d/1?x=1'), { socketOrigin: 'http://app-x1.localhost:8080', path: '/grafana/d/1?x=1' });
  assert.deepEqual(parse('http://APP-X1.localhost:8080/'), { socketOrigin: 'http://app-x1.localhost:8080', path: '/' });
});

test('a known socket origin keeps its origin but never a path that normalises off-site', () => {
  for (const tail of ['/.//evil.com', '/a/..//evil.com', '/%2e%2e//evil.com', '//evil.com']) {
    assert.deepEqual(parse(`http://app-x1.localhost:8080${tail}`), { socketOrigin: 'http://app-x1.localhost:8080', path: '/' }, tail);
  }
});

test('dot segments that stay on the host are resolved, not refused', () => {
  assert.equal(safeLocalPath('/a/./b/../c?x=1'), '/a/c?x=1');
  assert.equal(safeLocalPath('/./x'), '/x');
});
