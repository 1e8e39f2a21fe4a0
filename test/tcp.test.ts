import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, copyFileSync, existsSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { rawUpgrade, request } from './lib/http.js';
import {
  CLI,
  ConnectorProcess,
  EdgeProcess,
  api,
  cleanEnv,
  createAccount,
  createSocket,
  freePort,
  makeTempDir,
  parseJson,
  runCli,
  type SocketView,
} from './lib/postern.js';
import { ManagedProcess, killAll, runToExit } from './lib/process.js';
import { openConnection, roundTrip, runStdio, sha256, startEchoServer } from './lib/tcp.js';
import { pollUntil, withTimeout } from './lib/wait.js';

const MiB = 1024 * 1024;

interface TcpEvent {
  event: string;
  [key: string]: unknown;
}

/** A running `postern tcp --listen 127.0.0.1:0 --json`, once it printed its listening line. */
async function startListener(edge: EdgeProcess, token: string, socket: string, label: string): Promise<{ proc: ManagedProcess; port: number }> {
  const proc = new ManagedProcess(
    label,
    process.execPath,
    [CLI, 'tcp', '--socket', socket, '--listen', '127.0.0.1:0', '--json'],
    cleanEnv({ POSTERN_EDGE: edge.url, POSTERN_TOKEN: token }),
  );
  const line = await proc.waitForLine((l, stream) => stream === 'stdout' && parseJson<TcpEvent>(l)?.event === 'listening', 15_000, 'the listening line');
  const address = String(parseJson<TcpEvent>(line)!.address);
  return { proc, port: Number(address.slice(address.lastIndexOf(':') + 1)) };
}

/** Creates a tcp socket (always sign-in) through the API. */
async function createTcpSocket(edge: EdgeProcess, token: string, name: string): Promise<SocketView & { label: string }> {
  const res = await api(edge, token, 'POST', '/sockets', { name, protocol: 'tcp', ephemeral: false });
  assert.equal(res.status, 201, JSON.stringify(res.json));
  const socket = res.json as SocketView;
  return { ...socket, label: socket.hostname.split('.')[0]! };
}

/** stderr without blank lines: a refusal must be exactly one line. */
const lines = (stderr: string | string[]): string[] => (Array.isArray(stderr) ? stderr : stderr.split('\n')).filter((l) => l.trim() !== '');

describe('tcp: raw TCP streams through postern tcp', () => {
  const tmp = makeTempDir('tcp');
  let edge: EdgeProcess;
  let echo: Awaited<ReturnType<typeof startEchoServer>>;
  let alice: string;
  let bob: string;
  let socket: SocketView & { label: string };
  let listener: { proc: ManagedProcess; port: number };
  const as = (token: string) => ({ POSTERN_EDGE: edge.url, POSTERN_TOKEN: token });

  before(async () => {
    echo = await startEchoServer();
    const db = join(tmp.dir, 'edge.db');
    alice = await createAccount(db, 'alice@example.com');
    bob = await createAccount(db, 'bob@example.com');
    edge = await EdgeProcess.start({ db });
    socket = await createTcpSocket(edge, alice, 'echo');
    await ConnectorProcess.startServing({ edge, token: alice, appPort: echo.port, socket, label: 'connect:echo' });
    listener = await startListener(edge, alice, socket.label, 'tcp:alice');
  });

  after(async () => {
    await killAll();
    await echo?.close();
    tmp.remove();
  });

  it('prints one JSON listening line naming the socket', () => {
    const events = listener.proc.stdoutLines.map((l) => parseJson<TcpEvent>(l));
    assert.equal(events.length, 1, listener.proc.output());
    assert.deepEqual(events[0], { event: 'listening', address: `127.0.0.1:${listener.port}`, socket: socket.hostname, online: true });
  });

  it('carries 5 MiB of random bytes there and back intact, half-close included', { timeout: 60_000 }, async () => {
    const data = randomBytes(5 * MiB);
    const echoed = await roundTrip(listener.port, data, 45_000);
    assert.equal(echoed.length, data.length);
    assert.equal(sha256(echoed), sha256(data));
  });

  it('serves 20 parallel connections, each its own stream', { timeout: 60_000 }, async () => {
    const payloads = Array.from({ length: 20 }, (_, i) => randomBytes(64 * 1024 + i * 997));
    const echoed = await Promise.all(payloads.map((data) => roundTrip(listener.port, data, 45_000)));
    echoed.forEach((got, i) => assert.equal(sha256(got), sha256(payloads[i]!), `connection ${i}`));
  });

  it('--stdio carries stdin to the app and the answer to stdout, then exits 0', { timeout: 30_000 }, async () => {
    const data = randomBytes(300 * 1024);
    const result = await runStdio(['--socket', socket.hostname], as(alice), data);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(sha256(result.stdout), sha256(data));
    assert.equal(result.stderr, '');
  });

  it('records who opened a stream and how many bytes it carried in the audit log', async () => {
    const res = await api(edge, alice, 'GET', `/audit?socket=${socket.id}&limit=1000`);
    const events = res.json as { type: string; actor: string; detail: Record<string, unknown> }[];
    const closes = events.filter((e) => e.type === 'stream.close' && e.detail.kind === 'tcp');
    assert.ok(closes.length >= 22, `one stream.close per stream: ${closes.length}`);
    assert.ok(
      closes.some((e) => e.actor === 'alice@example.com' && e.detail.bytes_in === 5 * MiB && e.detail.bytes_out === 5 * MiB && typeof e.detail.duration_ms === 'number'),
      JSON.stringify(closes.slice(0, 3)),
    );
    assert.ok(events.some((e) => e.type === 'stream.open' && e.detail.kind === 'tcp'));
  });

  it('refuses an account the rules do not allow, in one line, and audits the denial', async () => {
    const listen = await runCli(['tcp', '--socket', socket.label, '--listen', '0'], as(bob));
    assert.equal(listen.code, 1, listen.stderr.join('\n'));
    assert.equal(lines(listen.stderr).length, 1, listen.stderr.join('\n'));
    assert.match(listen.stderr[0]!, /bob@example\.com may not use .*only the owner of this socket may use it/);
    assert.deepEqual(lines(listen.stdout), [], 'nothing listens');

    const stdio = await runStdio(['--socket', socket.label], as(bob), Buffer.from('hello'));
    assert.equal(stdio.code, 1);
    assert.equal(lines(stdio.stderr).length, 1, stdio.stderr);
    assert.match(stdio.stderr, /may not use/);
    assert.equal(stdio.stdout.length, 0);

    const audit = await api(edge, alice, 'GET', `/audit?socket=${socket.id}`);
    const denied = (audit.json as { type: string; actor: string; detail: { via?: string } }[]).filter((e) => e.type === 'access.denied');
    assert.ok(denied.some((e) => e.actor === 'bob@example.com' && e.detail.via === 'tcp'), JSON.stringify(denied));
  });

  it('refuses unknown sockets, HTTP sockets and bad tokens with a readable line each', async () => {
    const unknown = await runStdio(['--socket', 'nope-zzzz'], as(alice), Buffer.alloc(0));
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /there is no socket "nope-zzzz"/);

    const web = await createSocket(edge, alice, 'web');
    const http = await runStdio(['--socket', web.id], as(alice), Buffer.alloc(0));
    assert.equal(http.code, 1);
    assert.match(http.stderr, /is an HTTP socket/);

    const badToken = await runCli(['tcp', '--socket', socket.label, '--listen', '0'], as('pst_not-a-real-token'));
    assert.equal(badToken.code, 1);
    assert.equal(lines(badToken.stderr).length, 1, badToken.stderr.join('\n'));
    assert.match(badToken.stderr[0]!, /missing or unknown Postern token/);
  });

  it('answers an HTTP request or WebSocket to a tcp socket host with 409 WRONG_PROTOCOL', async () => {
    const host = `${socket.label}.${edge.domain}`;
    const res = await request({ port: edge.port, host, path: '/', headers: { accept: 'application/json' } });
    assert.equal(res.status, 409);
    assert.equal(res.headers['postern-error'], 'WRONG_PROTOCOL');
    const body = JSON.parse(res.body.toString('utf8')) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'WRONG_PROTOCOL');
    assert.match(body.error.message, new RegExp(`this is a TCP socket; reach it with "postern tcp --socket ${socket.label}\\.localhost"`));

    const upgrade = await rawUpgrade(edge.port, host, '/', { accept: 'application/json' });
    assert.equal(upgrade.status, 409);
  });

  it('lets an account in once allowed_email_addresses names it', { timeout: 30_000 }, async () => {
    const patched = await api(edge, alice, 'PATCH', `/sockets/${socket.id}`, { allowed_email_addresses: ['bob@example.com'] });
    assert.equal(patched.status, 200, JSON.stringify(patched.json));
    const data = randomBytes(64 * 1024);
    const result = await runStdio(['--socket', socket.label], as(bob), data);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(sha256(result.stdout), sha256(data));
  });

  it('closes an open stream when its token is revoked, then stops listening', { timeout: 30_000 }, async () => {
    const whoami = await api(edge, bob, 'GET', '/whoami');
    const tokenId = (whoami.json as { token: { id: string } }).token.id;
    const bobs = await startListener(edge, bob, socket.label, 'tcp:bob');
    const conn = await openConnection(bobs.port);
    conn.socket.write('before revocation');
    await pollUntil(async () => (Buffer.concat(conn.received).toString() === 'before revocation' ? true : undefined), {
      timeoutMs: 10_000,
      what: 'the echo through bob’s listener',
    });

    const revoked = await api(edge, bob, 'DELETE', `/tokens/${tokenId}`);
    assert.equal(revoked.status, 204, JSON.stringify(revoked.json));
    await withTimeout(conn.closed, 10_000, 'the open stream to close after revocation');
    await bobs.proc.waitForLine((l) => /access to .* ended/.test(l), 5_000, 'the stream error line');
    const audit = await api(edge, alice, 'GET', `/audit?socket=${socket.id}`);
    const closed = (audit.json as { type: string; actor: string; detail: { code?: number } }[]).find((e) => e.type === 'stream.close' && e.actor === 'bob@example.com' && e.detail.code !== undefined);
    assert.equal(closed?.detail.code, 4403, 'the audit log says access ended');

    // The next connection finds the token revoked: the listener ends, since every later one would fail too.
    (await openConnection(bobs.port)).socket.end();
    const exit = await bobs.proc.waitExit(10_000);
    assert.equal(exit.code, 1, bobs.proc.output());
    assert.match(bobs.proc.stderrLines.join('\n'), /this Postern token was revoked/);
  });

  it('says clearly when the connector cannot reach the app', { timeout: 30_000 }, async () => {
    const down = await createTcpSocket(edge, alice, 'down');
    await ConnectorProcess.startServing({ edge, token: alice, appPort: await freePort(), socket: down, label: 'connect:down' });
    const result = await runStdio(['--socket', down.label], as(alice), Buffer.from('anyone there?'));
    assert.equal(result.code, 1);
    assert.equal(lines(result.stderr).length, 1, result.stderr);
    assert.match(result.stderr, /the app it serves on its machine is not answering \(ECONNREFUSED/);

    const downListener = await startListener(edge, alice, down.label, 'tcp:down');
    const conn = await openConnection(downListener.port);
    await withTimeout(conn.closed, 10_000, 'the local connection to close');
    const line = await downListener.proc.waitForLine((l) => parseJson<TcpEvent>(l)?.event === 'stream_error', 5_000, 'a stream_error line');
    assert.match(String(parseJson<TcpEvent>(line)!.message), /ECONNREFUSED/);
    assert.equal(downListener.proc.running, true, 'an unreachable app does not stop the listener');
  });
});

/** Why the SSH test cannot run here, or undefined when it can. */
function sshUnavailable(): string | undefined {
  if (!existsSync('/usr/sbin/sshd')) return '/usr/sbin/sshd is not installed';
  for (const tool of ['ssh', 'ssh-keygen']) {
    if (spawnSync(tool, ['-V'], { stdio: 'ignore' }).error) return `${tool} is not installed`;
  }
  return undefined;
}

describe('tcp: a real SSH session through ProxyCommand', { skip: sshUnavailable() }, () => {
  const tmp = makeTempDir('ssh');
  let edge: EdgeProcess;
  let token: string;
  let sshPort: number;

  before(async () => {
    const key = (name: string) => {
      const made = spawnSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(tmp.dir, name)]);
      assert.equal(made.status, 0, made.stderr?.toString());
    };
    key('host_key');
    key('user_key');
    copyFileSync(join(tmp.dir, 'user_key.pub'), join(tmp.dir, 'authorized_keys'));
    chmodSync(join(tmp.dir, 'authorized_keys'), 0o600);
    sshPort = await freePort();
    const config = [
      `Port ${sshPort}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(tmp.dir, 'host_key')}`,
      `PidFile ${join(tmp.dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(tmp.dir, 'authorized_keys')}`,
      'UsePAM no',
      'StrictModes no',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
    ];
    writeFileSync(join(tmp.dir, 'sshd_config'), `${config.join('\n')}\n`);
    const sshd = new ManagedProcess('sshd', '/usr/sbin/sshd', ['-D', '-e', '-f', join(tmp.dir, 'sshd_config')], cleanEnv());
    await sshd.waitForLine((l) => l.includes('Server listening on 127.0.0.1'), 10_000, 'sshd to listen');

    const db = join(tmp.dir, 'edge.db');
    token = await createAccount(db, 'alice@example.com');
    edge = await EdgeProcess.start({ db });
  });

  after(async () => {
    await killAll();
    tmp.remove();
  });

  it('runs a command over ssh -o ProxyCommand="postern tcp --socket … --stdio"', { timeout: 45_000 }, async () => {
    const socket = await createTcpSocket(edge, token, 'ssh');
    await ConnectorProcess.startServing({ edge, token, appPort: sshPort, socket, label: 'connect:ssh' });
    const proxy = `'${process.execPath}' '${CLI}' tcp --socket ${socket.label} --stdio`;
    const result = await runToExit(
      'ssh',
      'ssh',
      [
        '-F', '/dev/null',
        '-o', `ProxyCommand=${proxy}`,
        '-o', 'StrictHostKeyChecking=no',
        '-o', 'UserKnownHostsFile=/dev/null',
        '-o', 'BatchMode=yes',
        '-o', 'IdentitiesOnly=yes',
        '-o', 'LogLevel=ERROR',
        '-i', join(tmp.dir, 'user_key'),
        '-p', '22',
        `${userInfo().username}@${socket.label}`,
        'echo hello-through-postern',
      ],
      cleanEnv({ POSTERN_EDGE: edge.url, POSTERN_TOKEN: token }),
      30_000,
    );
    assert.equal(result.code, 0, `${result.stdout.join('\n')}\n${result.stderr.join('\n')}`);
    assert.deepEqual(lines(result.stdout), ['hello-through-postern']);
  });
});
