import { realpathSync } from 'node:fs';
import { basename, dirname } from 'node:path';
import type * as Edge from '@postern/edge';
import { CliError } from './errors.js';
import { releaseInfo, type ReleaseInfo } from './release-info.js';

export type EdgeModule = typeof Edge;

let loaded: EdgeModule | undefined;

/**
 * The edge (Fastify, SQLite, pg), for the commands that run one or open its database: `edge`,
 * `admin`, `demo`. Every other command runs without it: a connector-only install (the npm tarball
 * without better-sqlite3 and pg, or the single binary) has none of them.
 *
 * The pattern for such a command: register its options with values from `@postern/edge/client`
 * (cheap, nothing of the server), and begin its action with `const edge = await loadEdge('NAME')`.
 * Anywhere else in cli/src, import from `@postern/edge` with `import type` only: the release build
 * fails when the client entry reaches Fastify, SQLite or pg (scripts/src/bundle-check.ts).
 */
export async function loadEdge(command: string): Promise<EdgeModule> {
  if (releaseInfo?.kind === 'binary') {
    throw new CliError(`"postern ${command}" is not in the single binary, which runs the client commands: run the edge from the npm package or the Docker image (README, "On the app's machine")`);
  }
  try {
    loaded ??= await import('@postern/edge');
    return loaded;
  } catch (err) {
    throw leftOutPackageError(err) ?? err;
  }
}

/**
 * A failed import of a package the npm package leaves out (better-sqlite3 when the edge loads, pg
 * when it opens PostgreSQL) as the one line that says what to add; undefined for any other error.
 */
export function leftOutPackageError(err: unknown): CliError | undefined {
  const missing = releaseInfo && missingEdgePackage(err, releaseInfo);
  if (!releaseInfo || !missing) return undefined;
  return new CliError(`the edge needs packages this install leaves out (${missing} is missing): ${installHint(releaseInfo)}`);
}

/** The edge module once a command has loaded it (to recognise its errors), else undefined. */
export const loadedEdge = (): EdgeModule | undefined => loaded;

/** The name of the left-out package that `err` (an import failure) reports missing, if it is one. */
function missingEdgePackage(err: unknown, release: ReleaseInfo): string | undefined {
  if ((err as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') return undefined;
  const message = (err as Error).message;
  return release.edgePackages.map((spec) => spec.slice(0, spec.lastIndexOf('@'))).find((name) => message.includes(`'${name}'`));
}

/**
 * `npm i -g` with the prefix this package is installed under, so the packages land beside it
 * (`<prefix>/lib/node_modules/`, where Node finds them from ours) whatever npm's default prefix is.
 */
function installHint(release: ReleaseInfo): string {
  const packages = release.edgePackages.join(' ');
  const modules = dirname(dirname(dirname(realpathSync(process.argv[1] ?? '.')))); // <modules>/postern/dist/postern.js
  if (basename(modules) !== 'node_modules') return `npm i -g ${packages}`;
  const above = dirname(modules);
  const prefix = process.platform !== 'win32' && basename(above) === 'lib' ? dirname(above) : above;
  return `npm i -g --prefix ${/\s/.test(prefix) ? JSON.stringify(prefix) : prefix} ${packages}`;
}
