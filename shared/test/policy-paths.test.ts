import assert from 'node:assert/strict';
import { test } from 'node:test';
import { compilePathPattern, normalisePathPattern, requestPath } from '../src/policy/paths.js';

// [pattern, path, matches]
const PATTERNS: Array<[string, string, boolean]> = [
  ['/health', '/health', true],
  ['/health', '/health/', false],
  ['/health', '/healthz', false],
  ['/health', '/Health', false],
  ['/admin/*', '/admin', true],
  ['/admin/*', '/admin/', true],
  ['/admin/*', '/admin/users/1', true],
  ['/admin/*', '/administrator', false],
  ['/admin/*', '/x/admin', false],
  ['/api*', '/api', true],
  ['/api*', '/api/v1', true],
  ['/api*', '/apix', true],
  ['/api*', '/ap', false],
  ['/v*/status', '/v1/status', true],
  ['/v*/status', '/v/status', true],
  ['/v*/status', '/v1/x/status', false],
  ['/v*/status', '/v1/status/x', false],
  ['/v*/admin/*', '/v2/admin', true],
  ['/v*/admin/*', '/v2/admin/x/y', true],
  ['/v*/admin/*', '/v2/administrator', false],
  ['/*.json', '/a.json', true],
  ['/*.json', '/a/b.json', false],
  ['/files/*.tar*', '/files/a.tar.gz', true],
  ['/files/*.tar*', '/files/x/a.tar.gz', false],
  ['/files/*.tar*', '/files/a.tar/x', true],
  ['/a.b', '/aXb', false],
  ['/(x)', '/(x)', true],
  ['/*', '/', true],
  ['/*', '/anything/at/all', true],
  ['/', '/', true],
  ['/', '/x', false],
  ['/grüße', '/grüße', true],
];

for (const [pattern, path, expected] of PATTERNS) {
  test(`path pattern ${pattern} ${expected ? 'matches' : 'does not match'} ${path}`, () => {
    assert.equal(compilePathPattern(normalisePathPattern(pattern))(path), expected);
  });
}

// [pattern as written, error] — patterns that could never match a request the edge lets through
const BAD_PATTERNS: Array<[string, RegExp]> = [
  ['admin', /must start with "\/"/],
  ['/a b', /spaces/],
  ['/a?x=1', /path alone/],
  ['/a#x', /path alone/],
  ['/%61dmin', /decoded path/],
  ['/a/**', /one "\*"/],
  ['/a//b', /refuses/],
  ['/a/../b', /refuses/],
  ['/a/./b', /refuses/],
  ['/a\\b', /refuses/],
  ['/a;b', /refuses/],
  ['/a\u0000', /spaces or control/],
];

for (const [pattern, error] of BAD_PATTERNS) {
  test(`path pattern ${JSON.stringify(pattern)} is refused when written`, () => {
    assert.throws(() => normalisePathPattern(pattern), error);
  });
}

test('patterns are trimmed', () => {
  assert.equal(normalisePathPattern('  /x '), '/x');
});

// [request target, decoded path or problem]
const TARGETS: Array<[string, string | RegExp]> = [
  ['/', '/'],
  ['/admin?x=1', '/admin'],
  ['/admin#frag', '/admin'],
  ['/%61dmin', '/admin'],
  ['/a%20b', '/a b'],
  ['/caf%C3%A9', '/café'],
  ['/admin/', '/admin/'],
  ['*', '*'],
  ['/a%2fb', /encoded/],
  ['/a%2Fb', /encoded/],
  ['/a%5cb', /encoded/],
  ['/a%252fb', /encoded/],
  ['/a%00', /encoded/],
  ['/a%0a', /encoded/],
  ['/a%7f', /encoded/],
  ['/a\\b', /backslash/],
  ['/admin;x', /";"/],
  ['/%C3', /invalid %-escape/],
  ['/%zz', /invalid %-escape/],
  ['/x/../admin', /dot segment/],
  ['/x/%2e%2e/admin', /dot segment/],
  ['/./admin', /dot segment/],
  ['/admin/.', /dot segment/],
  ['//admin', /empty or dot/],
  ['/a//b', /empty or dot/],
];

for (const [target, expected] of TARGETS) {
  test(`request target ${JSON.stringify(target)} ${typeof expected === 'string' ? `reads as ${expected}` : 'is refused where path rules apply'}`, () => {
    const result = requestPath(target);
    if (typeof expected === 'string') assert.deepEqual(result, { path: expected });
    else assert.match('problem' in result ? result.problem : `read as ${JSON.stringify(result)}`, expected);
  });
}
