import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { edgeConfigFromEnv, resolveEdgeConfig } from '@postern/edge';

/**
 * The cluster examples of docs/SCALING.md (deploy/cluster/) must be what an edge accepts: their
 * POSTERN_* variables, read by the edge's own reader, resolve to an edge of a cluster on PostgreSQL
 * (a misspelt name would be ignored, a bad value refused; either fails here).
 */

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
const deploy = (name: string): string => readFileSync(join(ROOT, 'deploy/cluster', name), 'utf8');
const dir = mkdtempSync(join(tmpdir(), 'postern-deploy-cluster-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const SECRET_FILE = join(dir, 'cluster-secret');
writeFileSync(SECRET_FILE, `${randomBytes(48).toString('base64')}\n`);

/** `KEY=VALUE` lines of an env file (comments and blank lines skipped). */
function envFile(text: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line);
    if (match) env[match[1]!] = match[2]!;
  }
  return env;
}

/** `KEY: value` lines of an indented YAML mapping that starts at the line matching `start`, up to its first blank line. */
function yamlMapping(text: string, start: RegExp): Record<string, string> {
  const lines = text.split('\n');
  const from = lines.findIndex((line) => start.test(line));
  assert.ok(from >= 0, `compose.yaml has ${start}`);
  const env: Record<string, string> = {};
  for (const line of lines.slice(from + 1)) {
    if (line.trim() === '') break;
    const match = /^\s+([A-Z_][A-Z0-9_]*): (.*)$/.exec(line);
    if (match) env[match[1]!] = match[2]!.replace(/^"(.*)"$/, '$1');
  }
  return env;
}

describe('deploy/cluster: the examples configure edges of one cluster', () => {
  test('compose.yaml: every edge resolves to a cluster edge on PostgreSQL, with its own advertised address', () => {
    const compose = deploy('compose.yaml');
    const shared = yamlMapping(compose, /^x-edge-environment:/);
    const advertised = [...compose.matchAll(/POSTERN_ADVERTISE: (\S+)/g)].map((m) => m[1]!);
    assert.equal(new Set(advertised).size, 3, `three edges, three addresses: ${advertised.join(', ')}`);
    for (const advertise of advertised) {
      // The secret reaches the container as a file at the path the variable names.
      const env = { ...shared, POSTERN_ADVERTISE: advertise, POSTERN_CLUSTER_SECRET_FILE: SECRET_FILE };
      const config = resolveEdgeConfig({}, edgeConfigFromEnv(env));
      assert.equal(config.store, 'postgres://postern@postgres:5432/postern');
      assert.equal(config.cluster?.advertiseUrl.replace(/\/$/, ''), advertise);
      assert.equal(config.domain, 'postern.localhost:8080');
    }
    assert.equal(shared.PGPASSFILE, '/run/secrets/pgpass', 'the password comes from the passfile secret');
  });

  test('cluster.env + cluster-a.env, with the paths postern-edge@.service gives the credentials', () => {
    const unit = deploy('postern-edge@.service');
    assert.match(unit, /^EnvironmentFile=\/etc\/postern\/cluster\.env$/m);
    assert.match(unit, /^EnvironmentFile=\/etc\/postern\/cluster-%i\.env$/m);
    assert.match(unit, /^LoadCredential=cluster-secret:/m);
    assert.match(unit, /^Environment=POSTERN_CLUSTER_SECRET_FILE=%d\/cluster-secret$/m);
    assert.match(unit, /^LoadCredential=pgpass:/m);
    assert.match(unit, /^Environment=PGPASSFILE=%d\/pgpass$/m);
    const env = { ...envFile(deploy('cluster.env')), ...envFile(deploy('cluster-a.env')), POSTERN_CLUSTER_SECRET_FILE: SECRET_FILE };
    const config = resolveEdgeConfig({}, edgeConfigFromEnv(env));
    assert.match(config.store, /^postgres:\/\/postern@/);
    assert.equal(config.cluster?.advertiseUrl.replace(/\/$/, ''), 'http://10.0.0.11:8080');
    assert.equal(config.publicScheme, 'https');
    assert.equal(config.listenPort, 8080);
  });
});
