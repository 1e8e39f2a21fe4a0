/**
 * `npm run release`: release/postern-<version>.tgz (one npm package, bundled, installable without
 * the network or a compiler) and release/postern-<os>-<arch> (a Node single executable with the
 * client commands). Flags:
 *   --if-stale             do nothing when release/build.json is newer than every input (tests)
 *   --target OS-ARCH --node FILE
 *                          also make the binary for another system, e.g. linux-arm64, darwin-arm64,
 *                          win32-x64, from that system's `node` (the same Node version as this one)
 */
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { parseArgs } from 'node:util';
import { PROTOCOL_VERSION } from '@postern/shared';
import type { Metafile } from 'esbuild';
import { bundleForBinary, bundleForNpm, edgeLeftOut, readPackageJson } from './bundle.js';
import { staleReason, writeManifest } from './manifest.js';
import { thirdPartyNotices } from './notices.js';
import { RELEASE_DIR, REPO } from './paths.js';
import { HOST, makeBinary, targetName, type Target } from './sea.js';

const { values: flags } = parseArgs({
  options: { 'if-stale': { type: 'boolean' }, node: { type: 'string' }, target: { type: 'string' } },
});

const timings: Record<string, number> = {};
async function timed<T>(step: string, work: () => T | Promise<T>): Promise<T> {
  const start = performance.now();
  const result = await work();
  timings[step] = Math.round(performance.now() - start);
  return result;
}

function parseTarget(value: string): Target {
  const match = /^(linux|darwin|win32)-(x64|arm64)$/.exec(value);
  if (!match) throw new Error(`--target must be one of linux|darwin|win32 - x64|arm64, e.g. linux-arm64, not "${value}"`);
  return { os: match[1] as NodeJS.Platform, arch: match[2]! };
}

const binaryFile = (target: Target): string => `postern-${targetName(target)}${target.os === 'win32' ? '.exe' : ''}`;

/** Bytes of every file under `dir`. */
function treeBytes(dir: string): number {
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((entry) => entry.isFile())
    .reduce((sum, entry) => sum + statSync(join(entry.parentPath, entry.name)).size, 0);
}

function packageJson(version: string): object {
  const root = readPackageJson('.');
  const leftOut = edgeLeftOut();
  const name = (spec: string) => spec.slice(0, spec.lastIndexOf('@'));
  const range = (spec: string) => spec.slice(spec.lastIndexOf('@') + 1);
  return {
    name: 'postern',
    version,
    description: root.description,
    license: root.license,
    type: 'module',
    bin: { postern: 'dist/postern.js' },
    engines: root.engines,
    files: ['dist', 'README.md', 'THIRD-PARTY-NOTICES.md'],
    // No dependencies: everything the client commands run is in dist/. The edge's native and
    // database packages are optional peers, which npm does not install (the edge names them).
    peerDependencies: Object.fromEntries(leftOut.map((spec) => [name(spec), range(spec)])),
    peerDependenciesMeta: Object.fromEntries(leftOut.map((spec) => [name(spec), { optional: true }])),
  };
}

const PACKAGE_README = (version: string, leftOut: readonly string[]) => `# postern ${version}

Identity-aware outbound tunnel: \`postern connect --port 3000 --cloudauth\` publishes a local app
through a Postern edge, which signs people in before anything reaches the app.

This package runs every client command (\`connect\`, \`tcp\`, \`login\`, \`socket\`, \`tunnel\`,
\`token\`, \`audit\`, \`whoami\`, \`service\`) with nothing but Node.js >= 20.19: no compiler, no
other package. To run an edge from it too, add its native and database packages beside it:
\`npm i -g ${leftOut.join(' ')}\`.
`;

async function release(): Promise<void> {
  if (flags['if-stale']) {
    const reason = staleReason();
    if (!reason) return void process.stdout.write('release: artefacts up to date\n');
    process.stdout.write(`release: building (${reason})\n`);
  }
  const version = readPackageJson('.').version;
  const extra = flags.target ? parseTarget(flags.target) : undefined;
  if (extra && !flags.node) throw new Error('--target needs --node FILE: the node executable of that system (its release archive has it)');

  const packageDir = join(RELEASE_DIR, 'package');
  const workDir = join(RELEASE_DIR, 'work');
  rmSync(RELEASE_DIR, { recursive: true, force: true });
  mkdirSync(workDir, { recursive: true });

  const npmMeta = await timed('bundle npm', () => bundleForNpm(join(packageDir, 'dist')));
  const binaryBundle = join(workDir, 'postern.cjs');
  const binaryMeta = await timed('bundle binary', () => bundleForBinary(binaryBundle));

  writeFileSync(join(packageDir, 'package.json'), `${JSON.stringify(packageJson(version), null, 2)}\n`);
  writeFileSync(join(packageDir, 'README.md'), PACKAGE_README(version, edgeLeftOut()));
  writeFileSync(join(packageDir, 'THIRD-PARTY-NOTICES.md'), thirdPartyNotices([npmMeta], false));
  writeFileSync(join(RELEASE_DIR, 'THIRD-PARTY-NOTICES.md'), thirdPartyNotices([npmMeta, binaryMeta], true));
  const unpackedBytes = treeBytes(packageDir);
  const edgeChunk = Object.entries(npmMeta.outputs).find(([, output]) => 'edge/dist/src/index.js' in output.inputs)?.[0];
  if (!edgeChunk) throw new Error('the npm bundle has no chunk with the edge in it');
  const packed = await timed('npm pack', () =>
    JSON.parse(execFileSync('npm', ['pack', '--json', '--pack-destination', RELEASE_DIR, '--loglevel=error'], { cwd: packageDir, encoding: 'utf8' })) as { filename: string; size: number }[],
  );
  const tarball = packed[0]!;

  const binary = binaryFile(HOST);
  const made = await timed('binary', () => makeBinary(binaryBundle, process.execPath, join(RELEASE_DIR, binary), HOST, workDir));
  const other = extra && flags.node ? binaryFile(extra) : undefined;
  const otherMade = extra && flags.node && other ? await makeBinary(binaryBundle, flags.node, join(RELEASE_DIR, other), extra, workDir) : undefined;
  rmSync(workDir, { recursive: true, force: true });

  const inputs = new Set<string>([
    ...[npmMeta, binaryMeta].flatMap((meta: Metafile) => Object.keys(meta.inputs)).filter((path) => !path.includes(':')),
    ...['package.json', 'package-lock.json', 'edge/package.json', 'cli/package.json', 'connector/package.json', 'shared/package.json'],
    ...readdirSync(join(REPO, 'scripts', 'dist', 'src')).filter((f) => f.endsWith('.js')).map((f) => `scripts/dist/src/${f}`),
  ]);
  const binaryBytes = statSync(join(RELEASE_DIR, binary)).size;
  writeManifest({
    version,
    protocol: PROTOCOL_VERSION,
    node: process.version,
    artefacts: { tarball: { file: tarball.filename, bytes: tarball.size }, binary: { file: binary, bytes: binaryBytes } },
    tarballUnpackedBytes: unpackedBytes,
    edgeChunk: relative(packageDir, join(REPO, edgeChunk)),
    binaryStripped: made.stripped,
    timings,
    inputs: [...inputs].sort(),
  });

  const mib = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
  const seconds = (...steps: string[]) => `${(steps.reduce((sum, step) => sum + (timings[step] ?? 0), 0) / 1000).toFixed(1)} s`;
  const out = relative(process.cwd(), RELEASE_DIR) || '.';
  process.stdout.write(
    [
      `release: postern ${version} (wire protocol ${PROTOCOL_VERSION})`,
      `  ${out}/${tarball.filename}  ${mib(tarball.size)} (${mib(unpackedBytes)} installed)  in ${seconds('bundle npm', 'npm pack')}`,
      `  ${out}/${binary}  ${mib(binaryBytes)}${made.stripped ? ' (stripped)' : ''}  in ${seconds('bundle binary', 'binary')}`,
      ...(other ? [`  ${out}/${other}  ${mib(statSync(join(RELEASE_DIR, other)).size)}`] : []),
      ...(otherMade?.followUp ? [`  then ${otherMade.followUp}`] : []),
    ].join('\n') + '\n',
  );
}

release().catch((err: unknown) => {
  process.stderr.write(`release: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
