import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { parse as parseYaml } from 'yaml';
import { printConfig } from '../src/config-print.js';
import { ConfigError, edgeConfigFromEnv, edgeConfigFromFile, resolveEdgeConfig } from '../src/config.js';
import { defaultMaxConnections } from '../src/net/fd-limit.js';

test('defaults give a working local edge', () => {
  const config = resolveEdgeConfig({});
  assert.equal(config.listenHost, '127.0.0.1');
  assert.equal(config.listenPort, 8080);
  assert.equal(config.domain, 'localhost:8080');
  assert.equal(config.store, './postern.db');
  assert.ok(Object.isFrozen(config));
});

test('flags win over the environment', () => {
  const config = resolveEdgeConfig({ listen: '0.0.0.0:9000', domain: 'Edge.Example.COM' }, { listen: '127.0.0.1:1', db: '/var/lib/postern.db' });
  assert.equal(config.listenHost, '0.0.0.0');
  assert.equal(config.listenPort, 9000);
  assert.equal(config.domain, 'edge.example.com');
  assert.equal(config.store, '/var/lib/postern.db');
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
  [{ listen: '127.0.0.1:99999' }, '--listen must be HOST:PORT with a port from 0 to 65535'],
  [{ domain: 'http://edge.example.com' }, '--domain must be a DNS name'],
  [{ domain: 'edge..example.com' }, '--domain must be a DNS name'],
  [{ upstreamTimeout: 'soon' }, '--upstream-timeout must be a positive duration'],
  [{ logLevel: 'loud' }, '--log-level must be one of'],
  [{ publicScheme: 'ftp' }, '--public-scheme must be one of http, https, not "ftp"'],
  [{ maxHeaderBytes: '-1' }, '--max-header-bytes must be a positive whole number'],
  [{ metricsListen: 'metrics' }, '--metrics-listen must be HOST:PORT'],
  [{ listen: '0.0.0.0:8080', metricsListen: '127.0.0.1:8080' }, '--metrics-listen needs a port of its own'],
  [{ tunnelPingInterval: '10s', tunnelPingTimeout: '10s' }, '--tunnel-ping-timeout must be longer than --tunnel-ping-interval'],
  [{ tunnelPingInterval: 'often' }, '--tunnel-ping-interval must be a positive duration'],
  [{ shutdownGrace: '0s' }, '--shutdown-grace must be a positive duration'],
  [{ maxHeaderCount: '0' }, '--max-header-count must be a positive whole number'],
  [{ maxBodyBytes: 'lots' }, '--max-body-bytes must be a size'],
  [{ maxBodyBytes: '0' }, '--max-body-bytes must be a size'],
  [{ headerTimeout: 'never' }, '--header-timeout must be a positive duration'],
  [{ bodyIdleTimeout: '0s' }, '--body-idle-timeout must be a positive duration'],
  [{ keepAliveTimeout: '-5s' }, '--keep-alive-timeout must be a positive duration'],
  [{ maxStreamsPerConnection: '20001' }, '--max-streams-per-connection must be at most 20000'],
  [{ maxStreamsPerUser: '1.5' }, '--max-streams-per-user must be a positive whole number'],
  [{ maxClientResets: 'many' }, '--max-client-resets must be a positive whole number'],
  [{ clientResetWindow: 'soon' }, '--client-reset-window must be a positive duration'],
  [{ tunnelMaxMessage: '64KiB' }, '--tunnel-max-message must be a size from 128KiB to 64MiB'],
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

test('rate limits have defaults, and flags, env and file each set one limit without hiding the others', () => {
  const defaults = resolveEdgeConfig({}).rateLimits;
  assert.deepEqual(defaults.loginPerEmail, { count: 10, windowMs: 60_000 });
  assert.deepEqual(defaults.apiPerAccount, { count: 600, windowMs: 60_000 });
  assert.ok(Object.isFrozen(defaults));
  const config = resolveEdgeConfig(
    { rateLoginPerEmail: '3/10m' },
    edgeConfigFromEnv({ POSTERN_RATE_API_PER_ACCOUNT: '5/30s', POSTERN_RATE_LOGIN_PER_EMAIL: '99/1m' }),
    { rateSigninPerAddress: 'off', rateApiPerAccount: '1/1h' },
  );
  assert.deepEqual(config.rateLimits.loginPerEmail, { count: 3, windowMs: 600_000 }, 'flag wins over env');
  assert.deepEqual(config.rateLimits.apiPerAccount, { count: 5, windowMs: 30_000 }, 'env wins over file');
  assert.equal(config.rateLimits.signinPerAddress, null, 'off');
  assert.deepEqual(config.rateLimits.loginPerAddress, defaults.loginPerAddress, 'untouched limits keep their default');
});

test('rate limits read from the YAML file by their snake_case keys, and print back the same way', () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-config-'));
  try {
    const file = join(dir, 'edge.yaml');
    writeFileSync(file, 'rate_login_per_address: 7/2m\nrate_api_bad_token_per_address: off\n');
    const config = resolveEdgeConfig({}, {}, edgeConfigFromFile(file));
    assert.deepEqual(config.rateLimits.loginPerAddress, { count: 7, windowMs: 120_000 });
    assert.equal(config.rateLimits.apiBadTokenPerAddress, null);
    const printed = printConfig(config);
    assert.match(printed, /^rate_login_per_address: 7\/2m$/m);
    assert.match(printed, /^rate_api_bad_token_per_address: off$/m);
    assert.match(printed, /^rate_api_per_account: 600\/1m$/m);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('limits have sane defaults', () => {
  assert.deepEqual(resolveEdgeConfig({}).limits, {
    maxHeaderCount: 100,
    maxBodyBytes: 1024 ** 3,
    headerTimeoutMs: 30_000,
    bodyIdleTimeoutMs: 60_000,
    keepAliveTimeoutMs: 65_000,
    maxStreamsPerConnection: 10_000,
    maxStreamsPerUser: 256,
    maxClientResets: 100,
    clientResetWindowMs: 10_000,
    tunnelMaxMessageBytes: 256 * 1024,
    maxConnectionsPerAddress: 256,
    firstByteTimeoutMs: 10_000,
    maxConnections: defaultMaxConnections(),
  });
});

test('limits come from flags, POSTERN_* variables and snake_case YAML keys, and --print-config shows them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'postern-config-'));
  try {
    const file = join(dir, 'edge.yaml');
    writeFileSync(
      file,
      'max_header_count: 50\nmax_body_bytes: 10MiB\nheader_timeout: 10s\nbody_idle_timeout: 20s\nkeep_alive_timeout: 30s\n' +
        'max_streams_per_connection: 500\nmax_streams_per_user: 40\nmax_client_resets: 20\nclient_reset_window: 1m\ntunnel_max_message: 1MiB\n' +
        'max_connections_per_address: 32\nfirst_byte_timeout: 3s\nmax_connections: 900\n',
    );
    const env = edgeConfigFromEnv({ POSTERN_MAX_BODY_BYTES: '20MiB', POSTERN_MAX_STREAMS_PER_USER: '60', POSTERN_MAX_HEADER_BYTES: '8192' });
    const config = resolveEdgeConfig({ maxStreamsPerUser: '70' }, env, edgeConfigFromFile(file));
    assert.equal(config.maxHeaderBytes, 8192);
    assert.deepEqual(config.limits, {
      maxHeaderCount: 50,
      maxBodyBytes: 20 * 1024 ** 2,
      headerTimeoutMs: 10_000,
      bodyIdleTimeoutMs: 20_000,
      keepAliveTimeoutMs: 30_000,
      maxStreamsPerConnection: 500,
      maxStreamsPerUser: 70,
      maxClientResets: 20,
      clientResetWindowMs: 60_000,
      tunnelMaxMessageBytes: 1024 ** 2,
      maxConnectionsPerAddress: 32,
      firstByteTimeoutMs: 3_000,
      maxConnections: 900,
    });
    const printed = parseYaml(printConfig(config)) as Record<string, unknown>;
    for (const [key, value] of Object.entries({
      max_header_bytes: 8192,
      max_header_count: 50,
      max_body_bytes: '20MiB',
      header_timeout: '10s',
      body_idle_timeout: '20s',
      keep_alive_timeout: '30s',
      max_streams_per_connection: 500,
      max_streams_per_user: 70,
      max_client_resets: 20,
      client_reset_window: '1m',
      tunnel_max_message: '1MiB',
      max_connections_per_address: 32,
      first_byte_timeout: '3s',
      max_connections: 900,
    })) {
      assert.equal(printed[key], value, key);
    }
    // What --print-config prints is a config file the edge reads back to the same limits.
    writeFileSync(file, printConfig(config));
    assert.deepEqual(resolveEdgeConfig({}, {}, edgeConfigFromFile(file)).limits, config.limits);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

for (const [value, fragment] of [
  ['10', '--rate-login-per-email must be COUNT/DURATION with a positive count and duration, such as 10/1m or 600/1m, or off, not "10"'],
  ['0/1m', '--rate-login-per-email must be COUNT/DURATION with a positive count'],
  ['-1/1m', 'must be COUNT/DURATION'],
  ['10/soon', '--rate-login-per-email must be COUNT/DURATION'],
  ['10/0s', '--rate-login-per-email must be COUNT/DURATION'],
  ['ten/1m', 'must be COUNT/DURATION'],
] as const) {
  test(`a bad rate limit is refused with a precise message: ${value}`, () => {
    assert.throws(
      () => resolveEdgeConfig({ rateLoginPerEmail: value }),
      (err: unknown) => err instanceof ConfigError && err.message.includes(fragment),
    );
  });
}
test('the metrics listener is off unless asked for; a bare port means loopback; env and YAML set it too', () => {
  assert.equal(resolveEdgeConfig({}).metricsListen, undefined);
  assert.deepEqual(resolveEdgeConfig({ metricsListen: '9464' }).metricsListen, { host: '127.0.0.1', port: 9464 });
  assert.deepEqual(resolveEdgeConfig({ metricsListen: '[::1]:9464' }).metricsListen, { host: '::1', port: 9464 });
  assert.deepEqual(resolveEdgeConfig({}, edgeConfigFromEnv({ POSTERN_METRICS_LISTEN: '10.0.0.5:9100' })).metricsListen, { host: '10.0.0.5', port: 9100 });
  const file = join(mkdtempSync(join(tmpdir(), 'postern-config-')), 'edge.yaml');
  writeFileSync(file, 'metrics_listen: 127.0.0.1:9500\n');
  assert.deepEqual(resolveEdgeConfig({}, {}, edgeConfigFromFile(file)).metricsListen, { host: '127.0.0.1', port: 9500 });
  assert.match(printConfig(resolveEdgeConfig({ metricsListen: '9464' })), /^metrics_listen: 127\.0\.0\.1:9464$/m, '--print-config shows it');
  assert.doesNotMatch(printConfig(resolveEdgeConfig({})), /metrics_listen/);
  rmSync(dirname(file), { recursive: true, force: true });
});

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
