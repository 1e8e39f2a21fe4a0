import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Metafile } from 'esbuild';
import { packageOf, startupViolations, type BundleRule } from '../src/bundle-check.js';

type Imports = Record<string, [path: string, kind: 'import-statement' | 'dynamic-import' | 'require-call', external?: boolean][]>;

/** A metafile with just the import graph (what the check reads). */
function meta(graph: Imports): Metafile {
  const inputs = Object.fromEntries(
    Object.entries(graph).map(([path, imports]) => [path, { bytes: 1, imports: imports.map(([p, kind, external]) => ({ path: p, kind, ...(external ? { external } : {}) })) }]),
  );
  return { inputs, outputs: {} } as unknown as Metafile;
}

const rule: BundleRule = {
  entry: 'cli/index.js',
  forbiddenPackages: new Set(['fastify', 'better-sqlite3']),
  edgeDir: 'edge/src/',
  edgeClientEntry: 'edge/src/client.js',
};

const clean = {
  'cli/index.js': [['cli/connect.js', 'import-statement'], ['cli/load-edge.js', 'import-statement']],
  'cli/connect.js': [['edge/src/client.js', 'import-statement'], ['node_modules/ws/index.js', 'import-statement']],
  'cli/load-edge.js': [['edge/src/index.js', 'dynamic-import']],
  'edge/src/client.js': [['edge/src/limits/size.js', 'import-statement']],
  'edge/src/limits/size.js': [],
  'edge/src/index.js': [['node_modules/fastify/fastify.js', 'import-statement'], ['better-sqlite3', 'import-statement', true]],
  'node_modules/ws/index.js': [['node:net', 'require-call', true]],
  'node_modules/fastify/fastify.js': [],
} satisfies Imports;

test('the CLI as it should be: the edge only behind a dynamic import, its client entry at start-up', () => {
  assert.deepEqual(startupViolations(meta(clean), rule), []);
});

test('a static import of the edge is caught, with the chain that leads to it', () => {
  const slipped: Imports = { ...clean, 'cli/connect.js': [...clean['cli/connect.js'], ['edge/src/index.js', 'import-statement']] };
  const chains = startupViolations(meta(slipped), rule);
  assert.deepEqual(chains[0], ['cli/index.js', 'cli/connect.js', 'edge/src/index.js']);
  assert.ok(chains.some((c) => c.at(-1) === 'node_modules/fastify/fastify.js'), 'and what it pulls in');
  assert.ok(chains.some((c) => c.at(-1) === 'better-sqlite3'), 'externals too');
});

test('a forbidden package reached through a CommonJS require is caught', () => {
  const slipped: Imports = { ...clean, 'node_modules/ws/index.js': [['node_modules/fastify/fastify.js', 'require-call']] };
  assert.deepEqual(startupViolations(meta(slipped), rule), [['cli/index.js', 'cli/connect.js', 'node_modules/ws/index.js', 'node_modules/fastify/fastify.js']]);
});

test('packageOf names the package of an input path, nested and scoped', () => {
  assert.deepEqual(packageOf('node_modules/fastify/lib/route.js'), { name: 'fastify', dir: 'node_modules/fastify' });
  assert.deepEqual(packageOf('node_modules/@fastify/swagger/index.js'), { name: '@fastify/swagger', dir: 'node_modules/@fastify/swagger' });
  assert.deepEqual(packageOf('node_modules/a/node_modules/pg/lib/index.js'), { name: 'pg', dir: 'node_modules/a/node_modules/pg' });
  assert.equal(packageOf('cli/dist/src/index.js'), undefined);
});
