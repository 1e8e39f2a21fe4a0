import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { resolveEdgeConfig } from '../src/config.js';
import { clientAddress, clientScheme, ProxyTrust } from '../src/net/client-address.js';
import { hstsPolicy } from '../src/net/hsts.js';

/** A request as the server hands it over: a peer address, TLS or not, and headers. */
function fakeRequest(peer: string, headers: Record<string, string> = {}, encrypted = false): IncomingMessage {
  return { socket: { remoteAddress: peer, encrypted }, headers } as unknown as IncomingMessage;
}

const trusting = (proxies: string, publicScheme = 'http') => new ProxyTrust(resolveEdgeConfig({ trustedProxies: proxies, publicScheme }));

function identified(trust: ProxyTrust, req: IncomingMessage): { address: string; scheme: string } {
  trust.identify(req);
  return { address: clientAddress(req), scheme: clientScheme(req) };
}

test('without trusted proxies the peer is the client, whatever the headers say', () => {
  const trust = new ProxyTrust(resolveEdgeConfig({}));
  const req = fakeRequest('127.0.0.1', { 'x-forwarded-for': '203.0.113.7', 'x-forwarded-proto': 'https' });
  assert.deepEqual(identified(trust, req), { address: '127.0.0.1', scheme: 'http' });
});

for (const [what, peer, xff, expected] of [
  ['an untrusted peer', '192.0.2.1', '203.0.113.7', '192.0.2.1'],
  ['a trusted peer', '10.1.2.3', '203.0.113.7', '203.0.113.7'],
  ['a trusted peer without the header', '10.1.2.3', undefined, '10.1.2.3'],
  ['client-written entries left of the real one', '10.1.2.3', '6.6.6.6, 7.7.7.7, 203.0.113.7', '203.0.113.7'],
  ['trusted hops are skipped', '10.1.2.3', '203.0.113.7, 10.0.0.9, 10.0.0.8', '203.0.113.7'],
  ['every hop trusted: the leftmost', '10.1.2.3', '10.0.0.9, 10.0.0.8', '10.0.0.9'],
  ['garbage stops at the last trusted hop', '10.1.2.3', '203.0.113.7, unknown', '10.1.2.3'],
  ['an address with a port is not an address', '10.1.2.3', '203.0.113.7:4711', '10.1.2.3'],
  ['IPv6 proxies and clients', '::1', '2001:db8::7', '2001:db8::7'],
  ['an IPv4-mapped peer matches an IPv4 rule', '::ffff:10.1.2.3', '203.0.113.7', '203.0.113.7'],
  ['an empty header', '10.1.2.3', '', '10.1.2.3'],
] as const) {
  test(`X-Forwarded-For from ${what}`, () => {
    const trust = trusting('10.0.0.0/8,::1');
    const req = fakeRequest(peer, xff === undefined ? {} : { 'x-forwarded-for': xff });
    assert.equal(identified(trust, req).address, expected);
  });
}

test('X-Forwarded-Proto: a trusted proxy\'s last value, else the public scheme; TLS on the socket always wins', () => {
  const trust = trusting('10.0.0.0/8', 'https');
  assert.equal(identified(trust, fakeRequest('10.1.2.3', { 'x-forwarded-proto': 'http' })).scheme, 'http');
  assert.equal(identified(trust, fakeRequest('10.1.2.3', { 'x-forwarded-proto': 'http, https' })).scheme, 'https');
  assert.equal(identified(trust, fakeRequest('10.1.2.3', { 'x-forwarded-proto': 'gopher' })).scheme, 'https');
  assert.equal(identified(trust, fakeRequest('192.0.2.1', { 'x-forwarded-proto': 'http' })).scheme, 'https', 'untrusted: ignored');
  assert.equal(identified(trusting('10.0.0.0/8', 'http'), fakeRequest('10.1.2.3', { 'x-forwarded-proto': 'http' }, true)).scheme, 'https');
});

test('HSTS: includeSubDomains on the edge host, the plain policy on names under it, nothing elsewhere or over HTTP', () => {
  const config = resolveEdgeConfig({ domain: 'edge.example.com', publicScheme: 'https', hstsMaxAge: '1h', trustedProxies: '10.0.0.0/8' });
  const trust = new ProxyTrust(config);
  const hsts = hstsPolicy(config);
  const header = (host: string, peer = '192.0.2.1', headers: Record<string, string> = {}) => {
    const req = fakeRequest(peer, { host, ...headers });
    trust.identify(req);
    return hsts(req);
  };
  assert.equal(header('edge.example.com'), 'max-age=3600; includeSubDomains');
  assert.equal(header('EDGE.example.com'), 'max-age=3600; includeSubDomains');
  assert.equal(header('app-x1.edge.example.com'), 'max-age=3600');
  assert.equal(header('example.com'), undefined);
  assert.equal(header('evil-edge.example.com'), undefined);
  assert.equal(header('edge.example.com', '10.1.2.3', { 'x-forwarded-proto': 'http' }), undefined, 'plain HTTP through a trusted proxy');
  const off = resolveEdgeConfig({ domain: 'edge.example.com', publicScheme: 'https', hstsMaxAge: '0' });
  const req = fakeRequest('192.0.2.1', { host: 'edge.example.com' });
  new ProxyTrust(off).identify(req);
  assert.equal(hstsPolicy(off)(req), 'max-age=0; includeSubDomains', 'max-age=0 tells browsers to forget the policy');
});
