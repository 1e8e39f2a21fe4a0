import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolveEdgeConfig } from '../src/config.js';
import { EdgeError } from '../src/errors.js';
import { httpsTarget } from '../src/net/http-redirect.js';

const production = resolveEdgeConfig({ domain: 'edge.example.com', publicScheme: 'https' });
const withPort = resolveEdgeConfig({ domain: 'localhost:8443', publicScheme: 'https' });

test('the edge and its sockets go to the same host over https, path and query kept', () => {
  assert.equal(httpsTarget(production, 'edge.example.com', '/auth/login?rd=%2F'), 'https://edge.example.com/auth/login?rd=%2F');
  assert.equal(httpsTarget(production, 'Grafana-x1.Edge.Example.com:80', '/d/1?x=1'), 'https://grafana-x1.edge.example.com/d/1?x=1');
  assert.equal(httpsTarget(production, 'edge.example.com', '//evil.example/'), 'https://edge.example.com//evil.example/', 'a path, never an authority');
  assert.equal(httpsTarget(withPort, 'localhost:8080', '/'), 'https://localhost:8443/', 'the public https port, not the one asked');
  assert.equal(httpsTarget(withPort, 'app.localhost', '/x'), 'https://app.localhost:8443/x');
});

for (const host of [
  undefined,
  '',
  'evil.example',
  'edge.example.com.evil.example',
  'evil-edge.example.com',
  'example.com',
  'a.b.edge.example.com',
  '-x.edge.example.com',
  'user@edge.example.com',
  'edge.example.com/evil',
  'edge.example.com:80:80',
  '[::1]',
  'edge.example.com\\@evil.example',
]) {
  test(`no redirect for Host ${JSON.stringify(host)}`, () => {
    const target = httpsTarget(production, host, '/');
    assert.ok(target instanceof EdgeError, String(target));
    assert.ok(target.status === 400 || target.status === 404);
  });
}

test('an absolute-form or empty target gets no redirect', () => {
  for (const url of ['http://evil.example/', 'evil.example', '*', '', undefined]) {
    assert.ok(httpsTarget(production, 'edge.example.com', url) instanceof EdgeError, String(url));
  }
});
