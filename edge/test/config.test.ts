import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError, resolveEdgeConfig } from '../src/config.js';

test('defaults give a working local edge', () => {
  const config = resolveEdgeConfig({});
  assert.equal(config.listenHost, '127.0.0.1');
  assert.equal(config.listenPort, 8080);
  assert.equal(config.domain, 'localhost:8080');
  assert.equal(config.dbPath, './postern.db');
  assert.ok(Object.isFrozen(config));
});

test('flags win over the environment', () => {
  const config = resolveEdgeConfig({ listen: '0.0.0.0:9000', domain: 'Edge.Example.COM' }, { listen: '127.0.0.1:1', db: '/var/lib/postern.db' });
  assert.equal(config.listenHost, '0.0.0.0');
  assert.equal(config.listenPort, 9000);
  assert.equal(config.domain, 'edge.example.com');
  assert.equal(config.dbPath, '/var/lib/postern.db');
});

test('IPv6 listen addresses and durations parse', () => {
  const config = resolveEdgeConfig({ listen: '[::1]:8443', upstreamTimeout: '1.5s' });
  assert.equal(config.listenHost, '::1');
  assert.equal(config.upstreamTimeoutMs, 1500);
  assert.equal(resolveEdgeConfig({ upstreamTimeout: '250ms' }).upstreamTimeoutMs, 250);
  assert.equal(resolveEdgeConfig({ upstreamTimeout: '2m' }).upstreamTimeoutMs, 120_000);
});

for (const [flags, fragment] of [
  [{ listen: 'nonsense' }, '--listen must be HOST:PORT'],
  [{ listen: '127.0.0.1:99999' }, 'port must be 0-65535'],
  [{ domain: 'http://edge.example.com' }, '--domain must be a DNS name'],
  [{ domain: 'edge..example.com' }, '--domain must be a DNS name'],
  [{ upstreamTimeout: 'soon' }, '--upstream-timeout must be a duration'],
  [{ logLevel: 'loud' }, '--log-level must be one of'],
  [{ publicScheme: 'ftp' }, '--public-scheme must be http or https'],
  [{ maxHeaderBytes: '-1' }, '--max-header-bytes must be a positive whole number'],
  [{ tlsKey: '/k.pem' }, '--tls-key needs --tls-cert'],
  [{ tlsCert: '/c.pem' }, '--tls-cert needs --tls-key'],
  [{ tlsCert: '/c.pem', tlsKey: '/k.pem', publicScheme: 'http' }, '--public-scheme http contradicts --tls-cert'],
  [{ httpRedirectListen: '0.0.0.0:80' }, '--http-redirect-listen needs an https edge'],
  [{ httpRedirectListen: 'port80', publicScheme: 'https' }, '--http-redirect-listen must be HOST:PORT'],
  [{ hstsMaxAge: 'forever' }, '--hsts-max-age must be a duration'],
  [{ trustedProxies: '10.0.0.0/33' }, '--trusted-proxy must list IP addresses or CIDRs'],
  [{ trustedProxies: 'proxy.internal' }, '--trusted-proxy must list IP addresses or CIDRs'],
  [{ trustedProxies: '10.0.0.0/8/1' }, '--trusted-proxy must list IP addresses or CIDRs'],
  [{ trustedProxies: '::1/129' }, '--trusted-proxy must list IP addresses or CIDRs'],
] as const) {
  test(`a bad value is refused with a precise message: ${JSON.stringify(flags)}`, () => {
    assert.throws(() => resolveEdgeConfig(flags), (err: unknown) => err instanceof ConfigError && err.message.includes(fragment));
  });
}

test('TLS files make the public scheme https; HSTS and trusted proxies parse', () => {
  const config = resolveEdgeConfig({ tlsCert: '/etc/postern/fullchain.pem', tlsKey: '/etc/postern/privkey.pem', httpRedirectListen: '[::]:80' });
  assert.equal(config.publicScheme, 'https');
  assert.deepEqual(config.tls, { certFile: '/etc/postern/fullchain.pem', keyFile: '/etc/postern/privkey.pem' });
  assert.deepEqual(config.httpRedirect, { host: '::', port: 80 });
  assert.equal(config.hstsMaxAgeSeconds, 365 * 86_400);
  assert.deepEqual(config.trustedProxies, []);
  assert.equal(resolveEdgeConfig({ hstsMaxAge: '0' }).hstsMaxAgeSeconds, 0);
  assert.equal(resolveEdgeConfig({ hstsMaxAge: '2h' }).hstsMaxAgeSeconds, 7200);
  const trusted = resolveEdgeConfig({ trustedProxies: ' 127.0.0.1/32, 10.0.0.0/8 ,::1' }).trustedProxies;
  assert.deepEqual(trusted, [
    { address: '127.0.0.1', prefix: 32, family: 'ipv4' },
    { address: '10.0.0.0', prefix: 8, family: 'ipv4' },
    { address: '::1', prefix: 128, family: 'ipv6' },
  ]);
  assert.deepEqual(resolveEdgeConfig({}, {}, { trustedProxies: ['192.168.0.0/16'] }).trustedProxies, [{ address: '192.168.0.0', prefix: 16, family: 'ipv4' }]);
});
