import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { PROTOCOL_VERSION } from '@postern/shared';
import { ManagedProcess } from './process.js';
import { createAccount, EdgeProcess, REPO_ROOT } from './postern.js';

/** What the tests read of release/build.json (scripts/src/manifest.ts). */
export interface BuiltRelease {
  readonly version: string;
  readonly protocol: number;
  readonly artefacts: { readonly tarball: { file: string; bytes: number }; readonly binary: { file: string; bytes: number } };
  readonly tarballUnpackedBytes: number;
  readonly edgeChunk: string;
  readonly timings: Readonly<Record<string, number>>;
  readonly tarball: string;
  readonly binary: string;
}

const RELEASE_DIR = join(REPO_ROOT, 'release');

/**
 * The artefacts of `npm run release`, made once per test run: the first release test builds them
 * (a few seconds), the next ones find them newer than every input and reuse them.
 */
export function releaseArtefacts(): BuiltRelease {
  execFileSync(process.execPath, [join(REPO_ROOT, 'scripts', 'dist', 'src', 'release.js'), '--if-stale'], { stdio: 'pipe', timeout: 180_000 });
  const manifest = JSON.parse(readFileSync(join(RELEASE_DIR, 'build.json'), 'utf8')) as Omit<BuiltRelease, 'tarball' | 'binary'>;
  return { ...manifest, tarball: join(RELEASE_DIR, manifest.artefacts.tarball.file), binary: join(RELEASE_DIR, manifest.artefacts.binary.file) };
}

/** Every `node` on PATH, resolved (a bind mount must cover the file itself, not a symlink to it). */
function nodesOnPath(): string[] {
  const found = new Set<string>([realpathSync(process.execPath)]);
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    try {
      found.add(realpathSync(join(dir, 'node')));
    } catch {
      /* no node there */
    }
  }
  return [...found];
}

/** Exit code of the wrapper when `node` could still be run inside it (the test is then void). */
export const NODE_STILL_VISIBLE = 97;

/**
 * `command ARGS` wrapped to run in a private mount namespace where every node executable is
 * /dev/null, so nothing it does can fall back on an installed Node (needs root: unshare -m, mount).
 * The wrapper exits NODE_STILL_VISIBLE if node still runs in there.
 */
export function withoutNode(command: string, args: readonly string[]): [string, string[]] {
  const hide = nodesOnPath().map((path) => `mount --bind /dev/null '${path}' || exit 96`).join('\n');
  const script = `${hide}\nif node --version >/dev/null 2>&1; then echo "node is still runnable" >&2; exit ${NODE_STILL_VISIBLE}; fi\nexec "$@"`;
  return ['unshare', ['--mount', '--propagation', 'private', 'sh', '-c', script, 'sh', command, ...args]];
}

/** python3's http.server on a free loopback port, serving `dir` (an app that is not Node). */
export async function startStaticApp(dir: string): Promise<{ port: number; proc: ManagedProcess }> {
  const proc = new ManagedProcess('python http.server', 'python3', ['-u', '-m', 'http.server', '--bind', '127.0.0.1', '--directory', dir, '0'], process.env);
  const line = await proc.waitForLine((l) => /Serving HTTP on .* port \d+/.test(l), 10_000, 'http.server to listen');
  return { port: Number(/port (\d+)/.exec(line)![1]), proc };
}

/** What `postern --version` must print: the root package.json's version and @postern/shared's protocol. */
export function expectedVersionLine(): string {
  const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
  return `postern ${version} (wire protocol ${PROTOCOL_VERSION})`;
}

/** What a release under test talks to: an edge from the repository with an account, and an app with one page. */
export interface ReleaseSetting {
  readonly release: BuiltRelease;
  readonly edge: EdgeProcess;
  readonly token: string;
  readonly appPort: number;
  /** The body of the app's `/`. */
  readonly page: string;
}

export async function releaseSetting(dir: string, what: string): Promise<ReleaseSetting> {
  const release = releaseArtefacts();
  const site = join(dir, 'site');
  mkdirSync(site);
  const page = `served by python through ${what} ${Date.now()}\n`;
  writeFileSync(join(site, 'index.html'), page);
  const app = await startStaticApp(site);
  const edge = await EdgeProcess.start({ db: join(dir, 'edge.db') });
  return { release, edge, token: await createAccount(edge.db, 'ops@example.com'), appPort: app.port, page };
}
