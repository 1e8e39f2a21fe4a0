import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PROTOCOL_VERSION } from '@postern/shared';
import { assertOneErrorLine, describeRun, writeTokenFile } from './lib/cli-user.js';
import { request } from './lib/http.js';
import { createAccount, EdgeProcess, makeTempDir, parseJson, REPO_ROOT } from './lib/postern.js';
import { killAll, ManagedProcess, runToExit } from './lib/process.js';
import { NODE_STILL_VISIBLE, releaseArtefacts, startStaticApp, withoutNode, type BuiltRelease } from './lib/release.js';

/**
 * release/postern-linux-x64 on a machine without Node: copied alone into an empty directory and run
 * in a mount namespace where every `node` executable is /dev/null. It prints its version, serves
 * python's http.server through an edge from the repository, and says in one line that the edge is
 * not in it.
 */
describe('single binary: the connector where Node is not installed', () => {
  const tmp = makeTempDir('release-bin');
  const emptyDir = join(tmp.dir, 'empty');
  const binary = join(emptyDir, 'postern');
  const home = join(tmp.dir, 'home');
  let release: BuiltRelease;
  let edge: EdgeProcess;
  let token: string;
  let app: Awaited<ReturnType<typeof startStaticApp>>;
  const page = `served by python through the single binary ${Date.now()}\n`;
  const env = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: home, NO_COLOR: '1' };

  /** The binary without node, to completion. */
  async function runBinary(args: readonly string[]) {
    const run = await runToExit(`postern ${args[0]}`, ...withoutNode(binary, args), env, 15_000, emptyDir);
    assert.notEqual(run.code, NODE_STILL_VISIBLE, `node was not hidden\n${describeRun(args, run)}`);
    return run;
  }

  before(async () => {
    release = releaseArtefacts();
    mkdirSync(emptyDir, { recursive: true });
    mkdirSync(home, { recursive: true });
    copyFileSync(release.binary, binary);
    const site = join(tmp.dir, 'site');
    mkdirSync(site);
    writeFileSync(join(site, 'index.html'), page);
    app = await startStaticApp(site);
    edge = await EdgeProcess.start({ db: join(tmp.dir, 'edge.db') });
    token = await createAccount(edge.db, 'ops@example.com');
  });

  after(async () => {
    await killAll();
    tmp.remove();
  });

  it('--version prints the version and the wire protocol version', async () => {
    const run = await runBinary(['--version']);
    const { version } = JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    assert.equal(run.code, 0, describeRun(['--version'], run));
    assert.deepEqual(run.stdout.filter(Boolean), [`postern ${version} (wire protocol ${PROTOCOL_VERSION})`]);
    assert.deepEqual(run.stderr.filter(Boolean), [], 'no warnings (SEA or module loading)');
  });

  it('connect serves a request through a socket', async () => {
    const tokenFile = writeTokenFile(join(tmp.dir, 'token'), token);
    const args = ['connect', '--port', String(app.port), '--name', 'bin', '--edge', edge.url, '--token-file', tokenFile, '--json'];
    const connector = new ManagedProcess('binary connect', ...withoutNode(binary, args), env, emptyDir);
    const line = await connector.waitForLine((l, s) => s === 'stdout' && parseJson<{ event?: string }>(l)?.event === 'ready', 20_000, 'the ready line');
    const res = await request({ port: edge.port, host: new URL(parseJson<{ url: string }>(line)!.url).host, path: '/' });
    assert.equal(res.status, 200, `through the edge: ${res.body.toString()}`);
    assert.equal(res.body.toString(), page, 'the app behind the binary answered');
    const stopped = await connector.stop('SIGTERM', 15_000);
    assert.equal(stopped.code, 0, connector.output());
    assert.deepEqual(readdirSync(emptyDir), ['postern'], 'it wrote nothing beside itself');
  });

  it('`postern edge` says in one line that the binary has no edge', async () => {
    const line = assertOneErrorLine(['edge'], await runBinary(['edge']));
    assert.match(line, /not in the single binary/);
  });
});
