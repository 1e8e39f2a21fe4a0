import assert from 'node:assert/strict';
import { copyFileSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertOneErrorLine, describeRun, writeTokenFile } from './lib/cli-user.js';
import { request } from './lib/http.js';
import { makeTempDir, parseJson } from './lib/postern.js';
import { killAll, ManagedProcess, runToExit } from './lib/process.js';
import { expectedVersionLine, NODE_STILL_VISIBLE, releaseSetting, withoutNode, type ReleaseSetting } from './lib/release.js';

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
  let setting: ReleaseSetting;
  const env = { PATH: '/usr/local/bin:/usr/bin:/bin', HOME: home, NO_COLOR: '1' };

  /** The binary without node, to completion. */
  async function runBinary(args: readonly string[]) {
    const run = await runToExit(`postern ${args[0]}`, ...withoutNode(binary, args), env, 15_000, emptyDir);
    assert.notEqual(run.code, NODE_STILL_VISIBLE, `node was not hidden\n${describeRun(args, run)}`);
    return run;
  }

  before(async () => {
    setting = await releaseSetting(tmp.dir, 'the single binary');
    mkdirSync(emptyDir, { recursive: true });
    mkdirSync(home, { recursive: true });
    copyFileSync(setting.release.binary, binary);
  });

  after(async () => {
    await killAll();
    tmp.remove();
  });

  it('--version prints the version and the wire protocol version', async () => {
    const run = await runBinary(['--version']);
    assert.equal(run.code, 0, describeRun(['--version'], run));
    assert.deepEqual(run.stdout.filter(Boolean), [expectedVersionLine()]);
    assert.deepEqual(run.stderr.filter(Boolean), [], 'no warnings (SEA or module loading)');
  });

  it('connect serves a request through a socket', async () => {
    const { edge, page } = setting;
    const tokenFile = writeTokenFile(join(tmp.dir, 'token'), setting.token);
    const args = ['connect', '--port', String(setting.appPort), '--name', 'bin', '--edge', edge.url, '--token-file', tokenFile, '--json'];
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
