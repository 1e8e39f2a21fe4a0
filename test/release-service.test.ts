import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdirSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CliUser, describeRun } from './lib/cli-user.js';
import { request } from './lib/http.js';
import { api, CLI, createAccount, createSocket, EdgeProcess, makeTempDir, type SocketView } from './lib/postern.js';
import { killAll, ManagedProcess, runToExit } from './lib/process.js';
import { releaseArtefacts, startStaticApp } from './lib/release.js';

/** systemd's reading of an ExecStart= line (quotes, backslash escapes, %% and $$): what the unit runs. */
function execStartWords(line: string): string[] {
  const words: string[] = [];
  let i = 0;
  while (i < line.length) {
    if (line[i] === ' ') {
      i++;
      continue;
    }
    let word = '';
    if (line[i] === '"') {
      for (i++; i < line.length && line[i] !== '"'; i++) word += line[i] === '\\' ? line[++i] : line[i];
      i++;
    } else {
      for (; i < line.length && line[i] !== ' '; i++) word += line[i];
    }
    words.push(word.replace(/%%/g, '%').replace(/\$\$/g, '$'));
  }
  return words;
}

const execStartOf = (unit: string): string[] => execStartWords(unit.split('\n').find((l) => l.startsWith('ExecStart='))!.slice('ExecStart='.length));

/**
 * `postern service`: the unit --dry-run prints (system and user) passes `systemd-analyze verify`
 * and never holds the token; `install --user` writes the unit and a 0600 token of the service's
 * own, and runs systemctl (a recording stand-in: no systemd is PID 1 here); the unit's ExecStart,
 * run as systemd would split it, serves an app; ls, logs and uninstall (which revokes the token).
 */
describe('postern service (systemd units for connectors)', () => {
  const tmp = makeTempDir('release-service');
  const fakeBin = join(tmp.dir, 'fake-bin');
  const systemdLog = join(tmp.dir, 'systemctl.log');
  let edge: EdgeProcess;
  let loginToken: string;
  let socket: SocketView;
  let user: CliUser;

  /** Every systemctl / journalctl call so far, one string each. */
  const systemdCalls = (): string[] => (existsSync(systemdLog) ? readFileSync(systemdLog, 'utf8').split('\n').filter(Boolean) : []);

  async function verify(unitText: string, file: string, scope: 'system' | 'user') {
    const path = join(tmp.dir, file);
    writeFileSync(path, unitText);
    const runtime = join(tmp.dir, 'runtime');
    mkdirSync(runtime, { recursive: true, mode: 0o700 });
    const args = [...(scope === 'user' ? ['--user'] : []), 'verify', path];
    return runToExit('systemd-analyze verify', 'systemd-analyze', args, { PATH: process.env.PATH, XDG_RUNTIME_DIR: runtime }, 30_000);
  }

  before(async () => {
    mkdirSync(fakeBin);
    // Records its arguments; `show` answers as systemd does for a running service.
    const fake = (extra: string) => `#!/bin/sh\necho "$(basename "$0") $*" >> '${systemdLog}'\n${extra}\nexit 0\n`;
    writeFileSync(join(fakeBin, 'systemctl'), fake(`case " $* " in *" show "*) printf 'ActiveState=active\\nSubState=running\\nMainPID=4242\\nActiveEnterTimestamp=Mon 2025-06-02 10:00:00 UTC\\n';; esac`), { mode: 0o755 });
    writeFileSync(join(fakeBin, 'journalctl'), fake(`echo "-- journal of the unit --"`), { mode: 0o755 });
    edge = await EdgeProcess.start({ db: join(tmp.dir, 'edge.db') });
    loginToken = await createAccount(edge.db, 'ops@example.com');
    socket = await createSocket(edge, loginToken, 'grafana');
    user = new CliUser(join(tmp.dir, 'user'), { PATH: `${fakeBin}:${process.env.PATH}` });
    // As `postern login` leaves it.
    mkdirSync(user.credentialsDir, { recursive: true, mode: 0o700 });
    writeFileSync(user.credentialsFile, JSON.stringify({ edge: edge.url, token: loginToken, email: 'ops@example.com', token_id: 'tok_login', expires_at: null }), { mode: 0o600 });
  });

  after(async () => {
    await killAll();
    tmp.remove();
  });

  it('install --dry-run --system prints a unit systemd-analyze verify accepts, without the token', async () => {
    const args = ['service', 'install', '--name', 'grafana', '--system', '--dry-run', '--', 'connect', '--socket', socket.id, '--port', '3000', '--cloudauth'];
    const run = await user.run(args);
    assert.equal(run.code, 0, describeRun(args, run));
    const [where, ...lines] = run.stdout;
    const unit = lines.join('\n');
    assert.equal(where, '# /etc/systemd/system/postern-grafana.service');
    assert.deepEqual(execStartOf(unit), [process.execPath, realpathSync(CLI), 'connect', '--socket', socket.id, '--port', '3000', '--cloudauth', '--edge', edge.url, '--token-file', '%d/token']);
    assert.ok(lines.includes('LoadCredential=token:/etc/postern/services/grafana.token'), unit);
    for (const setting of ['DynamicUser=yes', 'Restart=always', 'KillSignal=SIGTERM', 'TimeoutStopSec=45', 'WantedBy=multi-user.target']) assert.ok(lines.includes(setting), `${setting}\n${unit}`);
    assert.doesNotMatch(run.stdout.join('\n') + run.stderr.join('\n'), new RegExp(loginToken), 'the token is never printed');
    assert.match(run.stderr.join('\n'), /dry run: nothing written; a token of its own, made from your login, would go to \/etc\/postern\/services\/grafana.token \(mode 0600/);
    assert.equal(existsSync('/etc/systemd/system/postern-grafana.service'), false);
    assert.deepEqual(systemdCalls(), [], 'systemctl was not run');

    const verified = await verify(unit, 'postern-grafana.service', 'system');
    assert.equal(verified.code, 0, describeRun(['systemd-analyze', 'verify'], verified));
    assert.deepEqual([...verified.stdout, ...verified.stderr].filter((l) => l.includes('postern-grafana')), [], 'no complaint about the unit');
    // The check can fail: the same unit with an executable that does not exist.
    const broken = await verify(unit.replace(`ExecStart=${process.execPath}`, `ExecStart=${process.execPath}-missing`), 'postern-broken.service', 'system');
    assert.notEqual(broken.code, 0, 'systemd-analyze rejects a unit whose executable is missing');
  });

  it('the binary from a directory with a space and a % writes a user unit that systemd parses back to it', async () => {
    const dir = join(tmp.dir, 'my tools 100%');
    mkdirSync(dir);
    const binary = join(dir, 'postern');
    copyFileSync(releaseArtefacts().binary, binary);
    const env = { HOME: user.home, XDG_CONFIG_HOME: user.xdg, PATH: process.env.PATH ?? '', NO_COLOR: '1' };
    const args = ['service', 'install', '--name', 'odd', '--user', '--dry-run', '--', 'connect', '--socket', socket.id, '--port', '8080', '--name', 'has "quotes" and $HOME'];
    const run = await runToExit('binary service install', binary, args, env, 15_000);
    assert.equal(run.code, 0, describeRun(args, run));
    const unit = run.stdout.slice(1).join('\n');
    const tokenFile = join(user.xdg, 'postern', 'services', 'odd.token');
    assert.deepEqual(execStartOf(unit), [binary, 'connect', '--socket', socket.id, '--port', '8080', '--name', 'has "quotes" and $HOME', '--edge', edge.url, '--token-file', tokenFile]);
    assert.equal(unit.includes('DynamicUser'), false, 'a user unit runs as that user');
    assert.ok(unit.includes('WantedBy=default.target'), unit);
    const verified = await verify(unit, 'postern-odd.service', 'user');
    assert.equal(verified.code, 0, describeRun(['systemd-analyze', '--user', 'verify'], verified));
    assert.deepEqual([...verified.stdout, ...verified.stderr].filter((l) => l.includes('postern-odd')), [], 'systemd found the executable the quoted path names');
  });

  it('install --user stores a 0600 token of its own, writes the unit, enables and starts it; the unit serves the app', async () => {
    const args = ['service', 'install', '--name', 'web', '--user', '--json', '--', 'connect', '--socket', socket.id, '--port', '0'];
    const site = join(tmp.dir, 'site');
    mkdirSync(site);
    writeFileSync(join(site, 'index.html'), 'served by the unit\n');
    const app = await startStaticApp(site);
    args[args.length - 1] = String(app.port);
    const installed = await user.json<{ name: string; scope: string; unit: string; token_file: string; token_id: string }>(args);
    assert.equal(installed.scope, 'user');
    assert.equal(installed.unit, join(user.xdg, 'systemd', 'user', 'postern-web.service'));
    assert.equal(statSync(installed.token_file).mode & 0o777, 0o600, 'token file 0600');
    assert.equal(statSync(join(user.xdg, 'postern', 'services')).mode & 0o777, 0o700, 'its directory 0700');
    const serviceToken = readFileSync(installed.token_file, 'utf8').trim();
    assert.notEqual(serviceToken, loginToken, 'the service has a token of its own, not the login');
    const whoami = await api(edge, serviceToken, 'GET', '/whoami');
    assert.equal(whoami.status, 200);
    assert.equal((whoami.json as { token: { id: string; name: string } }).token.id, installed.token_id);
    assert.equal((whoami.json as { token: { name: string } }).token.name, 'service web');
    assert.deepEqual(systemdCalls(), ['systemctl --user daemon-reload', 'systemctl --user enable postern-web.service', 'systemctl --user restart postern-web.service']);

    const unit = readFileSync(installed.unit, 'utf8');
    assert.doesNotMatch(unit, new RegExp(serviceToken));
    const verified = await verify(unit, 'postern-web.service', 'user');
    assert.equal(verified.code, 0, describeRun(['systemd-analyze', '--user', 'verify'], verified));
    // What systemd would start: the ExecStart words, run as given.
    const [command, ...rest] = execStartOf(unit);
    const service = new ManagedProcess('the unit ExecStart', command!, rest, { PATH: process.env.PATH, HOME: user.home, NO_COLOR: '1' });
    await service.waitForLine((l) => l.includes('is live at'), 20_000, 'the connector to be live');
    const res = await request({ port: edge.port, host: new URL(socket.url).host, path: '/' });
    assert.equal(res.status, 200, res.body.toString());
    assert.equal(res.body.toString(), 'served by the unit\n');
    await service.stop('SIGTERM', 15_000);
    await app.proc.stop();
  });

  it('ls shows it, logs reads its journal, uninstall stops it, removes its files and revokes its token', async () => {
    const [listed] = await user.json<{ name: string; scope: string; state: string; command: string[]; edge: string }[]>(['service', 'ls', '--user', '--json']);
    assert.deepEqual(
      { name: listed?.name, scope: listed?.scope, state: listed?.state, command: listed?.command, edge: listed?.edge },
      { name: 'web', scope: 'user', state: 'active/running', command: ['connect', '--socket', socket.id, '--port', listed?.command[4]], edge: edge.url },
    );
    const serviceToken = readFileSync(join(user.xdg, 'postern', 'services', 'web.token'), 'utf8').trim();
    const logs = await user.run(['service', 'logs', 'web', '-n', '5']);
    assert.equal(logs.code, 0, describeRun(['service', 'logs'], logs));
    assert.deepEqual(logs.stdout.filter(Boolean), ['-- journal of the unit --']);
    assert.equal(systemdCalls().at(-1), 'journalctl --user -u postern-web.service -n 5 --no-pager');

    const removed = await user.run(['service', 'uninstall', 'web']);
    assert.equal(removed.code, 0, describeRun(['service', 'uninstall'], removed));
    assert.deepEqual(systemdCalls().slice(-2), ['systemctl --user disable --now postern-web.service', 'systemctl --user daemon-reload']);
    assert.equal(existsSync(join(user.xdg, 'systemd', 'user', 'postern-web.service')), false, 'unit removed');
    assert.equal(existsSync(join(user.xdg, 'postern', 'services', 'web.token')), false, 'token file removed');
    assert.equal((await api(edge, serviceToken, 'GET', '/whoami')).status, 401, "the service's token is revoked");
    assert.equal((await api(edge, loginToken, 'GET', '/whoami')).status, 200, 'the login still works');
    assert.match((await user.fails(['service', 'logs', 'web'])), /no postern service named "web"/);
  });

  it('refuses what would not run, in one line each', async () => {
    const dry = ['--user', '--dry-run', '--'];
    assert.match(await user.fails(['service', 'install', '--name', 'bad name', ...dry, 'connect', '--port', '1']), /--name must be/);
    assert.match(await user.fails(['service', 'install', '--name', 'x', ...dry, 'edge']), /a service runs "connect …" or "tcp --listen …"/);
    assert.match(await user.fails(['service', 'install', '--name', 'x', ...dry, 'connect', '--socket', socket.id]), /the service's command: required option '--port <port>'/);
    assert.match(await user.fails(['service', 'install', '--name', 'x', ...dry, 'tcp', '--socket', 'db', '--stdio']), /needs --listen/);
    assert.match(await user.fails(['service', 'install', '--name', 'x', '--user', '--', 'connect', '--socket', 'sck_0000000000', '--port', '1']), /socket sck_0000000000 does not exist/);
    assert.equal(existsSync(join(user.xdg, 'systemd', 'user', 'postern-x.service')), false, 'nothing installed for a socket the edge does not know');
  });
});
