import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { build, type BuildOptions, type Metafile, type Plugin } from 'esbuild';
import { startupViolations } from './bundle-check.js';
import { CLI_ENTRY, REPO } from './paths.js';

interface PackageJson {
  readonly name: string;
  readonly version: string;
  readonly description?: string;
  readonly license?: string;
  readonly engines?: Readonly<Record<string, string>>;
  readonly dependencies?: Readonly<Record<string, string>>;
}

export const readPackageJson = (dir: string): PackageJson => JSON.parse(readFileSync(join(REPO, dir, 'package.json'), 'utf8')) as PackageJson;

/**
 * The edge's packages the tarball leaves out (optional peers): native code, which `npm i` would
 * compile or download, and database-server drivers. Everything else the edge needs is bundled into
 * the chunk only `edge`, `admin` and `demo` load.
 */
const EDGE_LEFT_OUT = ['better-sqlite3', 'pg'];

/** `name@range` of each left-out package the edge depends on today (edge/package.json). */
export function edgeLeftOut(): string[] {
  const deps = readPackageJson('edge').dependencies ?? {};
  return EDGE_LEFT_OUT.filter((name) => deps[name] !== undefined).map((name) => `${name}@${deps[name]}`);
}

const nameOf = (spec: string): string => spec.slice(0, spec.lastIndexOf('@'));

/** Packages only the edge depends on: none may load before an edge command asks for the edge. */
function edgeOnlyPackages(): Set<string> {
  const client = new Set(['cli', 'connector', 'shared'].flatMap((dir) => Object.keys(readPackageJson(dir).dependencies ?? {})));
  return new Set(Object.keys(readPackageJson('edge').dependencies ?? {}).filter((name) => !client.has(name) && !name.startsWith('@postern/')));
}

/** Fails the build when a client command would load Fastify, SQLite, pg or the edge's server modules. */
function checkStartup(meta: Metafile, what: string): void {
  const violations = startupViolations(meta, {
    entry: 'cli/dist/src/index.js',
    forbiddenPackages: edgeOnlyPackages(),
    edgeDir: 'edge/dist/src/',
    edgeClientEntry: 'edge/dist/src/client.js',
  });
  if (violations.length === 0) return;
  const chains = violations.slice(0, 5).map((chain) => `  ${chain.join(' → ')}`).join('\n');
  throw new Error(`${what}: the CLI would load the edge at start-up (import it with loadEdge() inside the command, cli/src/load-edge.ts):\n${chains}`);
}

const common = {
  absWorkingDir: REPO,
  entryPoints: { postern: CLI_ENTRY },
  bundle: true,
  platform: 'node',
  target: 'node20.19',
  metafile: true as const,
  logLevel: 'warning',
  // Readable --debug stacks (names kept); the notices file carries the licences.
  minifyWhitespace: true,
  minifySyntax: true,
  legalComments: 'none',
} satisfies BuildOptions;

/** A module resolved to one that throws when loaded: what an `import()` or a `try { require() }` gets when it is absent. */
function absent(name: string, filter: RegExp, why: string): Plugin {
  const namespace = `absent-${name}`;
  return {
    name: namespace,
    setup(builder) {
      builder.onResolve({ filter }, (args) => ({ path: args.path, namespace }));
      builder.onLoad({ filter: /.*/, namespace }, (args) => ({ contents: `throw new Error(${JSON.stringify(`${args.path}: ${why}`)});`, loader: 'js' }));
    },
  };
}

/**
 * ws tries these native speed-ups inside try/catch and works without them; left as require() calls
 * they would make the single binary warn that it cannot load modules from disk.
 */
const wsAddons = absent('ws-addons', /^(bufferutil|utf-8-validate)$/, 'optional, not bundled');

const releaseDefine = (kind: 'npm' | 'binary') => ({ POSTERN_RELEASE: JSON.stringify({ kind, edgePackages: edgeLeftOut() }) });

/**
 * The npm package's code: ES modules, split so that the edge and its libraries are a chunk that
 * only a dynamic import (loadEdge) reaches. The left-out packages stay bare imports.
 */
export async function bundleForNpm(outdir: string): Promise<Metafile> {
  const result = await build({
    ...common,
    outdir,
    format: 'esm',
    splitting: true,
    chunkNames: 'chunks/[name]-[hash]',
    external: edgeLeftOut().map(nameOf),
    define: releaseDefine('npm'),
    plugins: [wsAddons],
    // The bundled CommonJS libraries (ws, undici, commander) call require() for Node's modules.
    banner: { js: "import { createRequire as __posternCreateRequire } from 'node:module';\nconst require = __posternCreateRequire(import.meta.url);" },
  });
  checkStartup(result.metafile, 'npm bundle');
  return result.metafile;
}

/** The single executable's code: one CommonJS file (what Node's SEA runs), client commands only. */
export async function bundleForBinary(outfile: string): Promise<Metafile> {
  // loadEdge() says the edge is not in the binary before it would import this.
  const withoutEdge = absent('edge', /^@postern\/edge$/, 'not part of the single binary');
  const result = await build({ ...common, outfile, format: 'cjs', define: releaseDefine('binary'), plugins: [wsAddons, withoutEdge] });
  checkStartup(result.metafile, 'binary bundle');
  return result.metafile;
}
