import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO } from './paths.js';

/** Where a binary runs: Node's `process.platform` and `process.arch` names. */
export interface Target {
  readonly os: NodeJS.Platform;
  readonly arch: string;
}

export const HOST: Target = { os: process.platform, arch: process.arch };
export const targetName = (target: Target): string => `${target.os}-${target.arch}`;
const isHost = (target: Target): boolean => target.os === HOST.os && target.arch === HOST.arch;

/** The fuse Node's binary carries for SEA (docs: "Single executable applications"). */
const SEA_FUSE = 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2';

function hasCommand(name: string): boolean {
  try {
    execFileSync(name, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export interface BinaryResult {
  readonly stripped: boolean;
  /** What is left to do by hand on another system (signing on macOS and Windows). */
  readonly followUp: string | undefined;
}

/**
 * A single executable: `bundle` (one CommonJS file) turned into a SEA blob by this Node and injected
 * with postject into a copy of `nodeBinary`, which must be the same Node version. The blob has no code
 * cache: it would tie the blob to this CPU and saves nothing measurable here (`--help` 0.14 s either way).
 */
export async function makeBinary(bundle: string, nodeBinary: string, output: string, target: Target, workDir: string): Promise<BinaryResult> {
  const blob = join(workDir, 'postern.blob');
  const config = join(workDir, 'sea-config.json');
  writeFileSync(config, JSON.stringify({ main: bundle, output: blob, disableExperimentalSEAWarning: true, useCodeCache: false }));
  execFileSync(process.execPath, ['--experimental-sea-config', config], { stdio: 'ignore' });

  copyFileSync(nodeBinary, output);
  chmodSync(output, 0o755);
  // Node's release binary carries its symbols (~12 MiB); `strip` drops them (stacks keep JS names).
  const stripped = target.os === 'linux' && isHost(target) && hasCommand('strip');
  if (stripped) execFileSync('strip', [output]);
  // postject's CLI in a child: its ELF parser prints a warning per note section it does not know,
  // shown here only when the injection fails.
  const postject = join(REPO, 'node_modules', 'postject', 'dist', 'cli.js');
  const machO = target.os === 'darwin' ? ['--macho-segment-name', 'NODE_SEA'] : [];
  const injected = spawnSync(process.execPath, [postject, output, 'NODE_SEA_BLOB', blob, '--sentinel-fuse', SEA_FUSE, ...machO], { encoding: 'utf8' });
  if (injected.status !== 0) throw new Error(`postject failed:\n${injected.stdout}${injected.stderr}`);
  const followUp =
    target.os === 'darwin'
      ? `sign it on a Mac (its signature no longer matches): codesign --sign - ${output}`
      : target.os === 'win32'
        ? `optionally sign it: signtool sign /fd SHA256 ${output}`
        : undefined;
  return { stripped, followUp };
}
