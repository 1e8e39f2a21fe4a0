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

test('tunnel pings and the shutdown grace have defaults and parse', () => {
  const defaults = resolveEdgeConfig({});
  assert.deepEqual([defaults.tunnelPingIntervalMs, defaults.tunnelPingTimeoutMs, defaults.shutdownGraceMs], [10_000, 25_000, 10_000]);
  const set = resolveEdgeConfig({ tunnelPingInterval: '500ms', tunnelPingTimeout: '2s', shutdownGrace: '1m' });
  assert.deepEqual([set.tunnelPingIntervalMs, set.tunnelPingTimeoutMs, set.shutdownGraceMs], [500, 2_000, 60_000]);
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
  [{ tunnelPingInterval: '10s', tunnelPingTimeout: '10s' }, '--tunnel-ping-timeout must be longer than --tunnel-ping-interval'],
  [{ tunnelPingInterval: 'often' }, '--tunnel-ping-interval must be a duration'],
  [{ shutdownGrace: '0s' }, '--shutdown-grace must be greater than zero'],
] as const) {
  test(`a bad value is refused with a precise message: ${JSON.stringify(flags)}`, () => {
    assert.throws(() => resolveEdgeConfig(flags), (err: unknown) => err instanceof ConfigError && err.message.includes(fragment));
  });
}
