import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cookieNames, setsReservedCookie, stripReservedCookies } from '../src/auth/cookies.js';

test('over https every edge cookie carries the __Host- prefix; over http none does', () => {
  for (const name of Object.values(cookieNames(true))) assert.match(name, /^__Host-postern_/);
  for (const name of Object.values(cookieNames(false))) assert.match(name, /^postern_/);
});

test('an app may not set a reserved cookie in any spelling, nameless form included', () => {
  for (const line of [
    'postern_session=x',
    'Postern_Session=x; Domain=example.com; Path=/',
    ' postern_login =x; HttpOnly',
    '__Host-postern_session=x; Secure; Path=/',
    '__HOST-POSTERN_TX=x',
    'postern_bind=x; Domain=.example.com',
    // A nameless cookie is sent back as its value: `postern_session=x`.
    '=postern_session=x; Domain=example.com',
    '= postern_login=x',
    'postern_session',
    '=__Host-postern_session=x; Secure; Path=/',
  ]) {
    assert.equal(setsReservedCookie(line), true, line);
  }
  for (const line of ['app=1', 'app=postern_session', 'my_postern_session=1', '__Host-app=1; Secure; Path=/', '=app=1', '"postern_session"=x']) {
    assert.equal(setsReservedCookie(line), false, line);
  }
});

test("the edge's cookies are removed from what the app receives, the app's own kept byte for byte", () => {
  assert.equal(stripReservedCookies('a=1; postern_session=x; POSTERN_LOGIN=y; __Host-postern_bind=z; b="2"'), 'a=1; b="2"');
  assert.equal(stripReservedCookies('postern_session=x'), null);
});
