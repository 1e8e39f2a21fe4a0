import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/** scripts/dist/src → the repository. */
export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
/** Everything `npm run release` writes (git-ignored). */
export const RELEASE_DIR = join(REPO, 'release');
/** The compiled CLI (`tsc -b`): the bundles start here. */
export const CLI_ENTRY = join(REPO, 'cli', 'dist', 'src', 'index.js');
