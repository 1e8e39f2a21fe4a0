import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ConfigError, edgeConfigFromEnv, edgeConfigFromFile, printConfig, resolveEdgeConfig, type EdgeConfig } from '@postern/edge';
import { EDGE_SETTING_ROWS, OIDC_SETTING_ROWS, type SettingRow } from '@postern/edge/client';
import { Command } from 'commander';
import { registerEdgeSettings } from '../src/commands/edge.js';

/**
 * The edge settings table, row by row, through the three real readers: `postern edge`'s generated
 * options (parsed by commander as the CLI does), POSTERN_* variables and the YAML file. Every row
 * must have a sample here, so a new setting cannot skip the test.
 */

const dir = mkdtempSync(join(tmpdir(), 'postern-edge-settings-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const file = (name: string, content: string): string => {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
};
const SECRET = file('client.secret', 'the-client-secret\n');
const OTHER_SECRET = file('other.secret', 'another-secret\n');
const EMPTY = file('empty.secret', '\n');
const CLUSTER_SECRET = file('cluster.secret', 'a-cluster-secret-of-forty-bytes-or-so-00\n');
const PG = 'postgres://postern@db.internal:5432/postern';
const CLUSTER = { store: PG, clusterSecretFile: CLUSTER_SECRET, advertise: 'http://10.0.0.5:8080' };
const MISSING = join(dir, 'missing.secret');
const PEM = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const SERVICE_ACCOUNT = file('sa.json', JSON.stringify({ type: 'service_account', client_email: 'dir@p.iam.gserviceaccount.com', private_key: PEM, private_key_id: 'k1' }));
const NOT_SERVICE_ACCOUNT = file('user.json', JSON.stringify({ type: 'authorized_user' }));
const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';

/** A value the row accepts (unlike its default), one it refuses (null: every non-empty text is accepted), and settings it needs beside it. */
interface Sample {
  readonly good: string;
  readonly bad: string | null;
  readonly with?: Readonly<Record<string, string>>;
}

const GOOGLE = { googleClientId: 'g.apps.googleusercontent.com', googleClientSecretFile: SECRET };

const EDGE_SAMPLES: Readonly<Record<string, Sample>> = {
  listen: { good: '0.0.0.0:9000', bad: '127.0.0.1:99999' },
  domain: { good: 'edge.example.com', bad: 'http://edge.example.com' },
  db: { good: '/var/lib/postern/postern.db', bad: null },
  store: { good: PG, bad: 'postgres://postern:hunter2@db.internal/postern', with: CLUSTER },
  clusterSecretFile: { good: CLUSTER_SECRET, bad: SECRET, with: CLUSTER },
  advertise: { good: 'http://10.0.0.5:8080', bad: '10.0.0.5:8080', with: CLUSTER },
  publicScheme: { good: 'https', bad: 'ftp' },
  upstreamTimeout: { good: '5s', bad: '-5s' },
  maxHeaderBytes: { good: '8192', bad: '0x10' },
  maxHeaderCount: { good: '50', bad: '1e2' },
  maxBodyBytes: { good: '10MiB', bad: 'lots' },
  headerTimeout: { good: '10s', bad: '0s' },
  bodyIdleTimeout: { good: '20s', bad: 'soon' },
  keepAliveTimeout: { good: '30s', bad: '-1' },
  maxStreamsPerConnection: { good: '500', bad: '20001' },
  maxStreamsPerUser: { good: '40', bad: '1.5' },
  maxClientResets: { good: '20', bad: 'many' },
  clientResetWindow: { good: '1m', bad: '0' },
  tunnelMaxMessage: { good: '1MiB', bad: '64KiB' },
  maxConnectionsPerAddress: { good: '32', bad: '-3' },
  firstByteTimeout: { good: '3s', bad: '3 s' },
  maxConnections: { good: '900', bad: '0' },
  foreignIdentityHeaders: { good: 'X_Corp_User,x-team-*', bad: 'bad header' },
  logLevel: { good: 'debug', bad: 'loud' },
  googleClientId: { good: 'g.apps.googleusercontent.com', bad: null, with: { googleClientSecretFile: SECRET } },
  googleClientSecretFile: { good: SECRET, bad: MISSING, with: { googleClientId: 'g' } },
  googleHostedDomain: { good: 'corp.example', bad: 'corp', with: GOOGLE },
  googleDirectoryCredentialsFile: { good: SERVICE_ACCOUNT, bad: NOT_SERVICE_ACCOUNT, with: { ...GOOGLE, googleDirectoryAdmin: 'admin@corp.example' } },
  googleDirectoryAdmin: { good: 'admin@corp.example', bad: 'admin', with: { ...GOOGLE, googleDirectoryCredentialsFile: SERVICE_ACCOUNT } },
  googleIssuer: { good: 'https://google.test', bad: 'accounts.google.com' },
  googleDirectoryUrl: { good: 'https://directory.test', bad: 'ftp://directory.test' },
  githubClientId: { good: 'gh-client', bad: null, with: { githubClientSecretFile: SECRET } },
  githubClientSecretFile: { good: SECRET, bad: MISSING, with: { githubClientId: 'gh' } },
  githubWebUrl: { good: 'https://github.corp.example', bad: 'github.corp.example' },
  githubApiUrl: { good: 'https://github.corp.example/api/v3', bad: 'not a url' },
  // 17 digits: beyond 2^53, a YAML number would lose the last digit.
  facebookClientId: { good: '12345678901234567', bad: null, with: { facebookClientSecretFile: SECRET } },
  facebookClientSecretFile: { good: SECRET, bad: EMPTY, with: { facebookClientId: 'fb' } },
  facebookWebUrl: { good: 'https://facebook.test', bad: 'facebook.test' },
  facebookGraphUrl: { good: 'https://graph.facebook.test', bad: 'mailto:x@y' },
  localAccounts: { good: 'false', bad: 'maybe' },
  sessionTtl: { good: '2h', bad: '-1h' },
  sessionIdle: { good: '1h', bad: 'x' },
  sessionRevalidate: { good: '5m', bad: '0m' },
  ...Object.fromEntries(EDGE_SETTING_ROWS.filter((row) => row.group === 'rate limits').map((row) => [row.key, { good: '3/10m', bad: '0/1m' }])),
  metricsListen: { good: '127.0.0.1:9464', bad: 'metrics' },
  tunnelPingInterval: { good: '1s', bad: '0s' },
  tunnelPingTimeout: { good: '30s', bad: 'never' },
  shutdownGrace: { good: '1m', bad: '-1s' },
  quickShareTimeout: { good: '2s', bad: '500ms' },
  storeOutageGrace: { good: '30s', bad: 'forever' },
  tlsCert: { good: '/etc/postern/fullchain.pem', bad: null, with: { tlsKey: '/etc/postern/privkey.pem' } },
  tlsKey: { good: '/etc/postern/privkey.pem', bad: null, with: { tlsCert: '/etc/postern/fullchain.pem' } },
  httpRedirectListen: { good: '[::]:80', bad: 'port80', with: { publicScheme: 'https' } },
  hstsMaxAge: { good: '0', bad: 'forever' },
  trustedProxies: { good: '10.0.0.0/8,::1', bad: '10.0.0.0/33' },
};

/** The issuer every OIDC sample is added to (an Entra sample replaces its issuer). */
const ISSUER = { issuer: 'https://idp.example.com', clientId: 'client', clientSecretFile: SECRET };
const OIDC_SAMPLES: Readonly<Record<string, Sample>> = {
  issuer: { good: 'https://other.example.com', bad: 'not a url' },
  entraTenant: { good: TENANT.toUpperCase(), bad: 'contoso.onmicrosoft.com' },
  clientId: { good: 'other-client', bad: null },
  clientSecretFile: { good: OTHER_SECRET, bad: MISSING },
  name: { good: 'Corp SSO', bad: null },
  kind: { good: 'entra', bad: 'okta', with: { tenants: TENANT } },
  tenants: { good: `${TENANT},0d9e8f7a-6b5c-4d3e-8f1a-2b3c4d5e6f70`, bad: 'contoso', with: { kind: 'entra' } },
  emailClaim: { good: 'upn', bad: 'e mail' },
  groupsClaim: { good: 'https://corp.example/groups', bad: 'a b' },
  scopes: { good: 'groups offline_access', bad: 'groups "x' },
  idTokenAlg: { good: 'ES256', bad: null },
  trustEmail: { good: 'true', bad: 'maybe' },
  requireMfa: { good: 'true', bad: 'maybe' },
  rpLogout: { good: 'true', bad: 'maybe' },
};

const rowOf = (rows: readonly SettingRow[], key: string): SettingRow => rows.find((row) => row.key === key)!;
const yamlLine = (row: SettingRow, value: string, indent = ''): string => `${indent}${row.yaml}: ${JSON.stringify(value)}\n`;

/** Flags of `values` for `postern edge` (a switch is its flag or its --no- form). */
function edgeArgs(values: Readonly<Record<string, string>>): string[] {
  return Object.entries(values).flatMap(([key, value]) => {
    const row = rowOf(EDGE_SETTING_ROWS, key);
    if (row.value.metavar) return [row.flag, value];
    return [value === 'true' ? row.flag : `--no-${row.flag.slice(2)}`];
  });
}

/** `postern edge ARGS` as the CLI reads them, to the edge's configuration. */
function fromFlags(args: string[]): EdgeConfig {
  const command = new Command('edge').exitOverride().configureOutput({ writeErr: () => undefined });
  const read = registerEdgeSettings(command);
  command.parse(args, { from: 'user' });
  return resolveEdgeConfig(read(command.opts()));
}

const envOf = (rows: readonly SettingRow[], values: Readonly<Record<string, string>>): NodeJS.ProcessEnv =>
  Object.fromEntries(Object.entries(values).map(([key, value]) => [rowOf(rows, key).env, value]));

let files = 0;
function fromYaml(yaml: string): { path: string; config: () => EdgeConfig } {
  const path = file(`edge-${++files}.yaml`, yaml);
  return { path, config: () => resolveEdgeConfig({}, {}, edgeConfigFromFile(path)) };
}

const refusedAs = (name: string) => (err: unknown) => {
  assert.ok(err instanceof ConfigError, String(err));
  // "NAME must be …", or for a file it names "cannot read NAME PATH: ENOENT" (the CLI's wording for files).
  assert.ok(err.message.startsWith(`${name} `) || err.message.startsWith(`cannot read ${name} `), `"${err.message}" should start with "${name} "`);
  return true;
};

describe('the edge settings table', () => {
  test('every row has a sample, and names of its own in each source', () => {
    assert.deepEqual(Object.keys(EDGE_SAMPLES).sort(), EDGE_SETTING_ROWS.map((row) => row.key).sort());
    assert.deepEqual(Object.keys(OIDC_SAMPLES).sort(), OIDC_SETTING_ROWS.map((row) => row.key).sort());
    for (const names of ['flag', 'env', 'yaml'] as const) {
      for (const rows of [EDGE_SETTING_ROWS, OIDC_SETTING_ROWS]) {
        const all = rows.map((row) => row[names]);
        assert.equal(new Set(all).size, all.length, `${names} names are distinct`);
      }
    }
  });

  test('the names scripts rely on are kept (CONTRACT.md, issues 9-14, deploy/*.yaml)', () => {
    const names = new Set(EDGE_SETTING_ROWS.flatMap((row) => [row.flag, row.env, row.yaml]));
    const issuer = new Set(OIDC_SETTING_ROWS.flatMap((row) => [row.flag, row.env, row.yaml]));
    for (const name of [
      '--listen', '--domain', '--db', '--metrics-listen', '--github-client-id', '--github-client-secret-file', '--local-accounts',
      '--google-client-id', '--google-client-secret-file', '--google-hosted-domain', '--google-directory-credentials-file',
      '--google-directory-admin', '--facebook-client-id', '--facebook-client-secret-file', '--session-revalidate', '--trusted-proxy',
      '--tls-cert', '--tls-key', '--http-redirect-listen', '--hsts-max-age', '--public-scheme', '--rate-login-per-email',
      'POSTERN_LISTEN', 'POSTERN_DOMAIN', 'POSTERN_DB', 'POSTERN_PUBLIC_SCHEME', 'POSTERN_UPSTREAM_TIMEOUT', 'POSTERN_LOG_LEVEL',
      'POSTERN_METRICS_LISTEN', 'POSTERN_GOOGLE_CLIENT_ID', 'POSTERN_GITHUB_CLIENT_SECRET_FILE', 'POSTERN_SESSION_TTL',
      'POSTERN_TRUSTED_PROXIES', 'POSTERN_RATE_LOGIN_PER_EMAIL', 'POSTERN_MAX_BODY_BYTES',
      'listen', 'domain', 'db', 'tls_cert', 'tls_key', 'http_redirect_listen', 'hsts_max_age', 'public_scheme', 'trusted_proxies',
      'metrics_listen', 'session_ttl', 'session_idle', 'session_revalidate', 'github_client_id', 'rate_login_per_email',
    ]) {
      assert.ok(names.has(name), name);
    }
    for (const name of [
      '--oidc-issuer', '--oidc-client-id', '--oidc-client-secret-file', '--oidc-name', '--oidc-kind', '--oidc-tenants', '--entra-tenant',
      '--oidc-email-claim', '--oidc-groups-claim', '--oidc-scopes', '--oidc-trust-email', '--oidc-require-mfa',
      'POSTERN_OIDC_ISSUER', 'POSTERN_OIDC_CLIENT_ID', 'POSTERN_OIDC_CLIENT_SECRET_FILE', 'POSTERN_OIDC_NAME', 'POSTERN_ENTRA_TENANT',
      'issuer', 'entra_tenant', 'client_id', 'client_secret_file', 'name', 'scopes', 'require_mfa', 'rp_logout',
    ]) {
      assert.ok(issuer.has(name), name);
    }
  });

  const defaults = resolveEdgeConfig({}).settings as unknown as Record<string, unknown>;
  for (const row of EDGE_SETTING_ROWS) {
    const { good, bad, with: context = {} } = EDGE_SAMPLES[row.key]!;
    test(`${row.yaml}: ${row.flag}, ${row.env} and the YAML key give the same value; a bad one is refused naming its source`, () => {
      const values = { ...context, [row.key]: good };
      const byFlag = (fromFlags(edgeArgs(values)).settings as unknown as Record<string, unknown>)[row.key];
      const byEnv = (resolveEdgeConfig({}, edgeConfigFromEnv(envOf(EDGE_SETTING_ROWS, values))).settings as unknown as Record<string, unknown>)[row.key];
      const yaml = Object.entries(values).map(([key, value]) => yamlLine(rowOf(EDGE_SETTING_ROWS, key), value)).join('');
      const byFile = (fromYaml(yaml).config().settings as unknown as Record<string, unknown>)[row.key];
      assert.notDeepEqual(byFlag, defaults[row.key], 'the sample is not the default');
      assert.deepEqual(byEnv, byFlag);
      assert.deepEqual(byFile, byFlag);
      if (bad === null) return;
      const wrong = { ...context, [row.key]: bad };
      if (row.value.metavar) assert.throws(() => fromFlags(edgeArgs(wrong)), refusedAs(row.flag));
      assert.throws(() => resolveEdgeConfig({}, edgeConfigFromEnv(envOf(EDGE_SETTING_ROWS, wrong))), refusedAs(row.env));
      const badFile = fromYaml(Object.entries(wrong).map(([key, value]) => yamlLine(rowOf(EDGE_SETTING_ROWS, key), value)).join(''));
      assert.throws(badFile.config, refusedAs(`${badFile.path}: ${row.yaml}`));
    });
  }

  for (const row of OIDC_SETTING_ROWS) {
    const { good, bad, with: context = {} } = OIDC_SAMPLES[row.key]!;
    test(`an issuer's ${row.yaml}: ${row.flag}, ${row.env} and the oidc entry's key give the same value; a bad one is refused naming its source`, () => {
      const entry = (value: string): Record<string, string> => {
        const values: Record<string, string> = { ...ISSUER, ...context, [row.key]: value };
        if (row.key === 'entraTenant') delete values.issuer; // the tenant stands for its issuer
        return values;
      };
      const args = (values: Record<string, string>): string[] => {
        const starts = values.issuer !== undefined ? ['--oidc-issuer', values.issuer] : ['--entra-tenant', values.entraTenant!];
        const rest = Object.entries(values).filter(([key]) => key !== (values.issuer !== undefined ? 'issuer' : 'entraTenant'));
        return [...starts, ...rest.flatMap(([key, value]) => {
          const r = rowOf(OIDC_SETTING_ROWS, key);
          return r.value.metavar ? [r.flag, value] : value === 'true' ? [r.flag] : [];
        })];
      };
      const yaml = (values: Record<string, string>) => `oidc:\n${Object.entries(values).map(([key, value], i) => yamlLine(rowOf(OIDC_SETTING_ROWS, key), value, i === 0 ? '  - ' : '    ')).join('')}`;
      const valueOf = (config: EdgeConfig) => (config.settings.oidc[0] as unknown as Record<string, unknown>)[row.key];
      const byFlag = valueOf(fromFlags(args(entry(good))));
      assert.notDeepEqual(byFlag, (resolveEdgeConfig({ oidc: [ISSUER] }).settings.oidc[0] as unknown as Record<string, unknown>)[row.key], 'the sample is not the default');
      assert.deepEqual(valueOf(resolveEdgeConfig({}, edgeConfigFromEnv(envOf(OIDC_SETTING_ROWS, entry(good))))), byFlag);
      assert.deepEqual(valueOf(fromYaml(yaml(entry(good))).config()), byFlag);
      if (bad === null) return;
      if (row.value.metavar) assert.throws(() => fromFlags(args(entry(bad))), refusedAs(row.flag));
      assert.throws(() => resolveEdgeConfig({}, edgeConfigFromEnv(envOf(OIDC_SETTING_ROWS, entry(bad)))), refusedAs(row.env));
      const badFile = fromYaml(yaml(entry(bad)));
      assert.throws(badFile.config, refusedAs(`${badFile.path}: oidc entry 1: ${row.yaml}`));
    });
  }

  test('a YAML value means what its text says, quoted or not: "false", false and no are false; 30 and "30" are 30 seconds', () => {
    for (const value of ['false', '"false"', 'no', 'off', 'False']) {
      assert.equal(fromYaml(`local_accounts: ${value}\n`).config().auth.localAccounts, false, value);
    }
    for (const value of ['30', '"30"', '30s']) assert.equal(fromYaml(`upstream_timeout: ${value}\n`).config().upstreamTimeoutMs, 30_000, value);
    assert.equal(fromYaml('facebook_client_id: 12345678901234567\nfacebook_client_secret_file: ' + SECRET + '\n').config().auth.providers[0]!.clientId, '12345678901234567');
    const oidc = fromYaml(`oidc:\n  - { issuer: https://idp.example.com, client_id: c, client_secret_file: ${SECRET}, require_mfa: "yes", rp_logout: on }\n`).config();
    assert.deepEqual([oidc.settings.oidc[0]!.requireMfa, oidc.settings.oidc[0]!.rpLogout], [true, true]);
    for (const [yaml, message] of [
      ['upstream_timeout: -5\n', 'upstream_timeout must be a positive duration'],
      ['domain: [a, b]\n', 'domain must be a DNS name (one value, not a list)'],
      ['db: {a: 1}\n', 'db must be a value or a list of values, not a mapping'],
    ] as const) {
      const { path, config } = fromYaml(yaml);
      assert.throws(config, (err: unknown) => err instanceof ConfigError && err.message.startsWith(`${path}: ${message}`), yaml);
    }
  });

  test('an empty variable and a YAML key with no value are not set; flags win over env, env over the file', () => {
    assert.equal(resolveEdgeConfig({}, edgeConfigFromEnv({ POSTERN_DB: '', POSTERN_LOCAL_ACCOUNTS: '' })).store, './postern.db');
    assert.equal(fromYaml('db:\nmetrics_listen: ~\n').config().store, './postern.db');
    const { path } = fromYaml('upstream_timeout: 1s\nheader_timeout: 1s\nbody_idle_timeout: 1s\n');
    const config = resolveEdgeConfig({ upstreamTimeout: '3s' }, edgeConfigFromEnv({ POSTERN_UPSTREAM_TIMEOUT: '2s', POSTERN_HEADER_TIMEOUT: '2s' }), edgeConfigFromFile(path));
    assert.deepEqual([config.upstreamTimeoutMs, config.limits.headerTimeoutMs, config.limits.bodyIdleTimeoutMs], [3000, 2000, 1000]);
  });

  test('a setting that needs another names both as its source does', () => {
    assert.throws(() => resolveEdgeConfig({}, edgeConfigFromEnv({ POSTERN_TLS_KEY: '/k.pem' })), /^ConfigError: POSTERN_TLS_KEY needs POSTERN_TLS_CERT/);
    const { path, config } = fromYaml('tunnel_ping_interval: 30s\n');
    assert.throws(config, new RegExp(`^ConfigError: ${path}: tunnel_ping_timeout must be longer than ${path}: tunnel_ping_interval`.replace(/[/.]/g, '\\$&')));
    assert.throws(() => resolveEdgeConfig({}, edgeConfigFromEnv({ POSTERN_OIDC_CLIENT_ID: 'c' })), /POSTERN_OIDC_ISSUER \(or POSTERN_ENTRA_TENANT\) is required/);
  });

  test('--db and --store name one store; PostgreSQL needs the cluster secret and --advertise, SQLite neither', () => {
    assert.equal(resolveEdgeConfig({ db: '/a.db' }).store, '/a.db');
    assert.equal(resolveEdgeConfig({ db: '/a.db', store: '/a.db' }).store, '/a.db');
    assert.equal(resolveEdgeConfig({}).cluster, undefined);
    assert.throws(() => resolveEdgeConfig({ db: '/a.db' }, edgeConfigFromEnv({ POSTERN_STORE: '/b.db' })), /^ConfigError: --db and POSTERN_STORE name different stores/);
    assert.throws(() => resolveEdgeConfig({ store: PG, advertise: 'http://10.0.0.5:8080' }), /^ConfigError: --store on PostgreSQL needs --cluster-secret-file/);
    assert.throws(() => resolveEdgeConfig({ store: PG, clusterSecretFile: CLUSTER_SECRET }), /^ConfigError: --store on PostgreSQL needs --advertise/);
    assert.throws(() => resolveEdgeConfig({ advertise: 'http://10.0.0.5:8080' }), /^ConfigError: --advertise needs a PostgreSQL --store/);
    assert.throws(() => resolveEdgeConfig({ store: 'postgres://u:pw@h/db' }), (err: unknown) => err instanceof ConfigError && /PGPASSFILE/.test(err.message) && !err.message.includes('pw'));
    assert.throws(() => resolveEdgeConfig({ ...CLUSTER, store: 'postgres://h/db?password=pw' }), /must not carry a password/);
    const cluster = resolveEdgeConfig(CLUSTER).cluster;
    assert.deepEqual(cluster, { secret: 'a-cluster-secret-of-forty-bytes-or-so-00', advertiseUrl: 'http://10.0.0.5:8080' });
  });

  /** Every setting set (each row's sample, two issuers, every provider) and what it resolves to. */
  function everything(): EdgeConfig {
    const values: Record<string, string> = {};
    for (const [key, sample] of Object.entries(EDGE_SAMPLES)) Object.assign(values, sample.with, { [key]: sample.good });
    delete values.db; // --db FILE is --store FILE: the PostgreSQL store stands for both
    const issuers = [
      { ...ISSUER, scopes: 'groups offline_access', requireMfa: 'true', rpLogout: 'true', emailClaim: 'upn', idTokenAlg: 'ES256' },
      { entraTenant: TENANT, clientId: 'app', clientSecretFile: OTHER_SECRET, name: 'Microsoft Work' },
    ];
    return resolveEdgeConfig({ ...values, oidc: issuers });
  }

  test('the configuration is frozen all the way down', () => {
    const seen: string[] = [];
    const walk = (value: unknown, path: string) => {
      if (typeof value !== 'object' || value === null) return;
      assert.ok(Object.isFrozen(value), `${path} is frozen`);
      seen.push(path);
      for (const [key, inner] of Object.entries(value)) walk(inner, `${path}.${key}`);
    };
    walk(everything(), 'config');
    for (const path of ['config.limits', 'config.auth.providers.0.scopes', 'config.trustedProxies.0', 'config.settings.oidc.1.tenants', 'config.rateLimits.loginPerEmail']) {
      assert.ok(seen.includes(path), path);
    }
  });

  test('--print-config is a config file that gives the same configuration back, with secrets left in their files', () => {
    const config = everything();
    const printed = printConfig(config);
    for (const secret of ['the-client-secret', 'another-secret', 'PRIVATE KEY', 'a-cluster-secret']) assert.ok(!printed.includes(secret), secret);
    assert.match(printed, new RegExp(`client_secret_file: ${OTHER_SECRET.replace(/[/.]/g, '\\$&')}`));
    assert.deepEqual(fromYaml(printed).config(), config);
    const plain = resolveEdgeConfig({});
    assert.deepEqual(fromYaml(printConfig(plain)).config(), plain);
  });
});
