import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertOneErrorLine, describeRun, writeTokenFile } from './lib/cli-user.js';
import { request } from './lib/http.js';
import { cleanEnv, freePort, makeTempDir, parseJson, REPO_ROOT, type EdgeLogLine } from './lib/postern.js';
import { killAll, ManagedProcess, runToExit } from './lib/process.js';
import { expectedVersionLine, releaseSetting, type BuiltRelease, type ReleaseSetting } from './lib/release.js';

/**
 * The npm package on a machine that has only Node: `npm i -g --prefix` of release/postern-<v>.tgz
 * into an empty prefix outside the repository, with the registry unreachable, then the installed
 * `postern` (whose module lookups cannot reach the repository's node_modules) against an edge
 * from the repository: --version, connect serving python's http.server with the edge's code
 * removed from the install, and `postern edge`, first without its native package, then with it.
 */
describe('npm tarball: npm i -g on a machine without the repository', () => {
  const tmp = makeTempDir('release-npm');
  const prefix = join(tmp.dir, 'prefix');
  const installedPackage = join(prefix, 'lib', 'node_modules', 'postern');
  const bin = join(prefix, 'bin', 'postern');
  const home = join(tmp.dir, 'home');
  let setting: ReleaseSetting;
  let release: BuiltRelease;

  /** The machine's environment, with nothing of npm's run or the repository's (npm_config_*, NODE_PATH). */
  const machineEnv = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
    const env = cleanEnv({ HOME: home, XDG_CONFIG_HOME: join(home, '.config'), ...extra });
    for (const key of Object.keys(env)) if (/^npm_|^NODE_PATH$|^NODE_OPTIONS$/i.test(key)) delete env[key];
    return env;
  };
  /** What the package leaves out, as `npm i -g` takes it: better-sqlite3 and pg at the edge's ranges. */
  const edgeDependencies = (JSON.parse(readFileSync(join(REPO_ROOT, 'edge', 'package.json'), 'utf8')) as { dependencies: Record<string, string> }).dependencies;
  const leftOut = ['better-sqlite3', 'pg'].filter((name) => edgeDependencies[name]).map((name) => `${name}@${edgeDependencies[name]}`);
  const postern = (args: readonly string[], timeoutMs = 15_000) => runToExit(`postern ${args[0]}`, bin, args, machineEnv(), timeoutMs, tmp.dir);

  before(async () => {
    setting = await releaseSetting(tmp.dir, 'the installed package');
    release = setting.release;
    mkdirSync(home, { recursive: true });
  });

  after(async () => {
    await killAll();
    tmp.remove();
  });

  it('installs into an empty prefix with the registry unreachable, as one package with no dependencies', async () => {
    const registry = `http://127.0.0.1:${await freePort()}/`; // nothing listens: any fetch would fail
    const args = ['i', '-g', '--prefix', prefix, '--registry', registry, '--cache', join(tmp.dir, 'npm-cache'), '--fetch-retries=0', '--no-audit', '--no-fund', release.tarball];
    const install = await runToExit('npm i -g', 'npm', args, machineEnv(), 120_000, tmp.dir);
    assert.equal(install.code, 0, describeRun(['(npm)', ...args], install));
    assert.deepEqual(readdirSync(join(prefix, 'lib', 'node_modules')), ['postern'], 'only postern was installed');
    assert.equal(existsSync(join(installedPackage, 'node_modules')), false, 'postern brought no node_modules of its own');
    const manifest = JSON.parse(readFileSync(join(installedPackage, 'package.json'), 'utf8')) as Record<string, unknown>;
    assert.equal(manifest.dependencies, undefined, 'the package declares no dependencies');
    assert.deepEqual(Object.keys(manifest.peerDependencies as object), leftOut.map((spec) => spec.slice(0, spec.lastIndexOf('@'))), "the edge's native and database packages are optional peers");
  });

  it('--version prints the version and the wire protocol version', async () => {
    const run = await postern(['--version']);
    assert.equal(run.code, 0, describeRun(['--version'], run));
    assert.deepEqual(run.stdout.filter(Boolean), [expectedVersionLine()]);
  });

  it('connect serves the app through an edge from the repository, with the edge code removed from the install', async () => {
    // Client commands never load the edge: with its chunk gone they must still work.
    const edgeChunk = join(installedPackage, release.edgeChunk);
    renameSync(edgeChunk, `${edgeChunk}.removed`);
    try {
      const { edge, page } = setting;
      const tokenFile = writeTokenFile(join(tmp.dir, 'token'), setting.token);
      const args = ['connect', '--port', String(setting.appPort), '--name', 'pkg', '--edge', edge.url, '--token-file', tokenFile, '--json'];
      const connector = new ManagedProcess('installed connect', bin, args, machineEnv(), tmp.dir);
      const line = await connector.waitForLine((l, s) => s === 'stdout' && parseJson<{ event?: string }>(l)?.event === 'ready', 20_000, 'the ready line');
      const ready = parseJson<{ url: string; socket_id: string }>(line)!;
      const res = await request({ port: edge.port, host: new URL(ready.url).host, path: '/' });
      assert.equal(res.status, 200, `through the edge: ${res.body.toString()}`);
      assert.equal(res.body.toString(), page, 'the app behind the installed connector answered');

      const credentials = ['--edge', edge.url, '--token-file', tokenFile, '--json'];
      const listed = await postern(['socket', 'ls', ...credentials]);
      assert.equal(listed.code, 0, describeRun(['socket', 'ls'], listed));
      assert.ok((JSON.parse(listed.stdout.join('')) as { id: string; online: boolean }[]).some((s) => s.id === ready.socket_id && s.online), 'socket ls shows it online');
      // The other client commands load and talk to the edge as well (login and tcp need a browser or a TCP socket: --help).
      for (const args of [['whoami', ...credentials], ['tunnel', 'ls', ...credentials], ['token', 'ls', ...credentials], ['audit', ...credentials], ['login', '--help'], ['tcp', '--help']]) {
        const run = await postern(args);
        assert.equal(run.code, 0, describeRun(args, run));
      }
      const stopped = await connector.stop('SIGTERM', 15_000);
      assert.equal(stopped.code, 0, connector.output());
    } finally {
      renameSync(`${edgeChunk}.removed`, edgeChunk);
    }
  });

  it('`postern edge` without the native package says in one line what to add', async () => {
    const args = ['edge', '--listen', `127.0.0.1:${await freePort()}`, '--db', join(tmp.dir, 'never.db')];
    const line = assertOneErrorLine(args, await postern(args));
    assert.match(line, /better-sqlite3 is missing/);
    assert.ok(line.endsWith(`npm i -g --prefix ${prefix} ${leftOut.join(' ')}`), line);
    assert.equal(existsSync(join(tmp.dir, 'never.db')), false, 'nothing was created');
  });

  it('README "On the app\'s machine" names these artefacts with their sizes and what --version prints', () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf("## On the app's machine"), readme.indexOf('## TLS and deployment'));
    const mib = (bytes: number) => bytes / 1024 / 1024;
    /** The README's figure is the build's, rounded (within 10 % or 0.1 MiB: dependency updates move it a little). */
    const near = (stated: string | undefined, bytes: number, what: string) => {
      assert.ok(stated !== undefined, `README states the size of ${what}`);
      const diff = Math.abs(Number(stated) - mib(bytes));
      assert.ok(diff <= Math.max(0.1, mib(bytes) * 0.1), `README says ${stated} MiB for ${what}, the build made ${mib(bytes).toFixed(1)} MiB`);
    };
    const tarball = new RegExp(`\\| \`release/${release.artefacts.tarball.file.replaceAll('.', '\\.')}\` \\| ([\\d.]+) MiB download, ([\\d.]+) MiB installed`).exec(section);
    near(tarball?.[1], release.artefacts.tarball.bytes, 'the tarball');
    near(tarball?.[2], release.tarballUnpackedBytes, 'the installed package');
    near(/\| `release\/postern-linux-x64` \| ([\d.]+) MiB/.exec(section)?.[1], release.artefacts.binary.bytes, 'the binary');
    assert.ok(section.includes(`npm i -g ./${release.artefacts.tarball.file}`), 'the install command names this tarball');
    assert.ok(section.includes(`# ${expectedVersionLine()}`), `README shows what --version prints now: ${expectedVersionLine()}`);
  });

  it('with better-sqlite3 added beside it, the same package runs an edge (and names pg when PostgreSQL is asked for)', async () => {
    // What `npm i -g --prefix P better-sqlite3@…` leaves: the package in P/lib/node_modules (here
    // the repository's build of it, as this machine has no registry for tests).
    symlinkSync(join(REPO_ROOT, 'node_modules', 'better-sqlite3'), join(prefix, 'lib', 'node_modules', 'better-sqlite3'));
    const db = join(tmp.dir, 'installed-edge.db');
    const added = await postern(['admin', 'user', 'add', 'someone@example.com', '--db', db, '--json']);
    assert.equal(added.code, 0, describeRun(['admin'], added));
    const port = await freePort();
    const installedEdge = new ManagedProcess('installed edge', bin, ['edge', '--listen', `127.0.0.1:${port}`, '--db', db], machineEnv(), tmp.dir);
    await installedEdge.waitForLine((l) => parseJson<EdgeLogLine>(l)?.msg === 'edge listening', 20_000, '"edge listening"');
    const res = await request({ port, host: `localhost:${port}`, path: '/api/v1/whoami' });
    assert.equal(res.status, 401);
    assert.equal((JSON.parse(res.body.toString()) as { error: { code: string } }).error.code, 'UNAUTHORIZED', res.body.toString());
    await installedEdge.stop('SIGTERM', 15_000);

    // pg is still left out: the first command that opens PostgreSQL says so in one line.
    const migrate = ['admin', 'migrate-store', '--from', db, '--to', `postgres://postern@127.0.0.1:${await freePort()}/postern`];
    assert.match(assertOneErrorLine(migrate, await postern(migrate)), /\(pg is missing\): npm i -g --prefix /);
  });
});
