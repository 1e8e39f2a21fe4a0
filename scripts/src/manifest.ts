import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { RELEASE_DIR, REPO } from './paths.js';

/** release/build.json: what the last `npm run release` made, from what, and how long it took. */
export interface BuildManifest {
  readonly version: string;
  readonly protocol: number;
  readonly node: string;
  readonly artefacts: Readonly<Record<'tarball' | 'binary', { readonly file: string; readonly bytes: number }>>;
  /** Bytes of the tarball once installed (its files, unpacked). */
  readonly tarballUnpackedBytes: number;
  /** The package's file holding the edge (only edge, admin and demo import it), e.g. dist/chunks/src-….js. */
  readonly edgeChunk: string;
  readonly binaryStripped: boolean;
  /** Milliseconds per step. */
  readonly timings: Readonly<Record<string, number>>;
  /** Files the artefacts are made from, relative to the repository (a newer one makes them stale). */
  readonly inputs: readonly string[];
}

const MANIFEST = join(RELEASE_DIR, 'build.json');

export function writeManifest(manifest: BuildManifest): void {
  writeFileSync(MANIFEST, `${JSON.stringify(manifest, null, 2)}\n`);
}

export function readManifest(): BuildManifest | undefined {
  return existsSync(MANIFEST) ? (JSON.parse(readFileSync(MANIFEST, 'utf8')) as BuildManifest) : undefined;
}

/** Why the artefacts must be made again, or undefined when the last build is still what the sources give. */
export function staleReason(): string | undefined {
  const manifest = readManifest();
  if (!manifest) return 'no build yet';
  const builtAt = statSync(MANIFEST).mtimeMs;
  for (const artefact of Object.values(manifest.artefacts)) {
    if (!existsSync(join(RELEASE_DIR, artefact.file))) return `${artefact.file} is missing`;
  }
  if (manifest.node !== process.version) return `built with Node ${manifest.node}, this is ${process.version}`;
  for (const input of manifest.inputs) {
    const path = join(REPO, input);
    if (!existsSync(path)) return `${input} is gone`;
    if (statSync(path).mtimeMs > builtAt) return `${input} changed`;
  }
  return undefined;
}
