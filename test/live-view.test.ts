import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SHOTS_DIR } from './lib/browser.js';
import { closeOf, nextMessage, openWebSocket, request } from './lib/http.js';
import { Origin } from './lib/origin.js';
import {
  CLI,
  ConnectorProcess,
  EdgeProcess,
  cleanEnv,
  createAccount,
  freePort,
  makeTempDir,
  type ConnectEvent,
} from './lib/postern.js';
import { ManagedProcess, killAll } from './lib/process.js';
import { TmuxTerminal, tmuxAvailable } from './lib/tmux.js';
import { pollUntil, sleep } from './lib/wait.js';

interface RequestLine extends ConnectEvent {
  event: 'request' | 'websocket_close';
  time: string;
  email: string | null;
  method: string;
  path: string;
  status: number;
  duration_ms: number;
  bytes_out: number;
}

const isRequestLine = (e: ConnectEvent): e is RequestLine => e.event === 'request' || e.event === 'websocket_close';

/** Waits until `conn` printed a request line that `match` accepts. */
function requestLine(conn: ConnectorProcess, match: (line: RequestLine) => boolean, what: string): Promise<RequestLine> {
  return pollUntil(async () => conn.events().filter(isRequestLine).find(match), {
    timeoutMs: 5_000,
    intervalMs: 20,
    what: () => `${what}\n${conn.proc.output()}`,
  });
}

/** A human-view request line: time, user, method, path, status, duration (see cli/src/request-line.ts). */
const humanLine = (method: string, path: string, status: number): RegExp =>
  new RegExp(`^\\d\\d:\\d\\d:\\d\\d  -  ${method} +${path.replace(/[/?]/g, '\\$&')} +${status}  \\d+ ms$`, 'm');

/** Any SGR colour (foreground 30-37, 90-97, 256/true colour), as tmux or chalk write it. */
const COLOUR = /\u001b\[[0-9;]*(?:3[0-8]|9[0-7])[;m]/;

describe('live view: postern connect shows each request', () => {
  const tmp = makeTempDir('live-view');
  const accountEmail = 'alice@example.com';
  let edge: EdgeProcess;
  let origin: Origin;
  let token: string;
  /** A public quick share served by `connect --json`. */
  let open: ConnectorProcess;

  before(async () => {
    origin = await Origin.start();
    const db = `${tmp.dir}/edge.db`;
    token = await createAccount(db, accountEmail);
    edge = await EdgeProcess.start({ db });
    open = await ConnectorProcess.start({ edge, token, appPort: origin.port, args: ['--name', 'live'] });
  });

  after(async () => {
    await killAll();
    await origin?.close();
    tmp.remove();
  });

  /** The environment of a human `connect`: no NO_COLOR, so colour depends on the TTY alone. */
  const humanEnv = (): NodeJS.ProcessEnv => {
    const env = cleanEnv({ POSTERN_EDGE: edge.url, POSTERN_TOKEN: token });
    // Like a person's terminal: chalk (supports-color) turns colour off when CI markers are set.
    for (const key of ['NO_COLOR', 'CI', 'CONTINUOUS_INTEGRATION', 'BUILD_NUMBER', 'TEAMCITY_VERSION', 'TF_BUILD']) delete env[key];
    return env;
  };

  it('--json prints one line per request after the ready line: method, path without its query, status, duration, no email on a public socket', async () => {
    const startedAt = Date.now();
    const get = (path: string) => request({ port: edge.port, host: open.publicHost, path });
    assert.equal((await get('/hello')).status, 200);
    const body = Buffer.from('x'.repeat(1000));
    const posted = await request({ port: edge.port, host: open.publicHost, method: 'POST', path: '/sha256', body, headers: { 'content-length': String(body.length) } });
    assert.equal(posted.status, 200);
    assert.equal((await get('/missing')).status, 404);
    assert.equal((await get('/hello?token=secret&x=1')).status, 200);

    const lines = await pollUntil(
      async () => {
        const found = open.events().filter(isRequestLine);
        return found.length >= 4 ? found : undefined;
      },
      { timeoutMs: 5_000, intervalMs: 20, what: () => `4 request lines\n${open.proc.output()}` },
    );
    assert.equal(lines.length, 4, JSON.stringify(lines));
    const summary = lines.map((l) => `${l.event} ${l.method} ${l.path} ${l.status} ${l.email}`).sort();
    assert.deepEqual(summary, [
      'request GET /hello 200 null',
      'request GET /hello 200 null',
      'request GET /missing 404 null',
      'request POST /sha256 200 null',
    ]);
    for (const line of lines) {
      assert.ok(Number.isInteger(line.duration_ms) && line.duration_ms >= 0, `duration_ms ${line.duration_ms}`);
      const time = Date.parse(line.time);
      assert.ok(time >= startedAt - 1000 && time <= Date.now() + 1000, `time ${line.time}`);
      assert.equal(new Date(time).toISOString(), line.time, 'an ISO timestamp');
    }
    assert.equal(lines.find((l) => l.path === '/hello')!.bytes_out, 'hello from origin'.length);
    assert.doesNotMatch(open.proc.stdoutLines.join('\n'), /secret/, 'the query string is never logged');
    assert.equal(open.events()[0]!.event, 'ready', 'the first line is still the ready event');
  });

  it('logs a request the edge answers with its own error page (app unreachable: 502) with that status', async () => {
    const conn = await ConnectorProcess.start({ edge, token, appPort: await freePort(), args: ['--name', 'down', '--connections', '1'] });
    const res = await request({ port: edge.port, host: conn.publicHost, path: '/anything', headers: { accept: 'application/json' } });
    assert.equal(res.status, 502);
    assert.equal(res.headers['postern-error'], 'APP_UNREACHABLE');
    const line = await requestLine(conn, (l) => l.path === '/anything', 'the 502 line');
    assert.equal(line.status, 502);
    assert.equal(line.bytes_out, 0);
    await conn.stop();
  });

  it('logs a WebSocket twice: status 101 when it opens, websocket_close with how long it was open', async () => {
    const ws = await openWebSocket(edge.port, open.publicHost, '/ws');
    const opened = await requestLine(open, (l) => l.path === '/ws' && l.event === 'request', 'the 101 line');
    assert.equal(opened.status, 101);
    ws.send('ping');
    assert.equal((await nextMessage(ws)).data.toString(), 'ping');
    await sleep(120);
    const closed = closeOf(ws);
    ws.close();
    await closed;
    const line = await requestLine(open, (l) => l.path === '/ws' && l.event === 'websocket_close', 'the websocket_close line');
    assert.equal(line.status, 101);
    assert.equal(line.method, 'GET');
    assert.ok(line.duration_ms >= 100, `open for ${line.duration_ms} ms`);
  });

  it('names the token account on a cloudauth socket reached with a Postern token; refusals are not logged', async () => {
    assert.match(token, /^pst_/);
    const conn = await ConnectorProcess.start({ edge, token, appPort: origin.port, args: ['--name', 'private', '--cloudauth'] });
    const refused = await request({ port: edge.port, host: conn.publicHost, path: '/refused', headers: { accept: 'application/json' } });
    assert.equal(refused.status, 401);
    const allowed = await request({ port: edge.port, host: conn.publicHost, path: '/hello', headers: { authorization: `Bearer ${token}` } });
    assert.equal(allowed.status, 200);
    const line = await requestLine(conn, (l) => l.path === '/hello', 'the signed-in line');
    assert.equal(line.email, accountEmail);
    assert.equal(line.status, 200);
    // The refusal came first and never reached a tunnel: no line for it.
    assert.deepEqual(conn.events().filter(isRequestLine).map((l) => l.path), ['/hello']);
    await conn.stop();
  });

  it('--quiet prints no request lines, still the ready line', async () => {
    const conn = await ConnectorProcess.start({ edge, token, appPort: origin.port, args: ['--name', 'hush', '--quiet', '--grace', '1s'] });
    for (const path of ['/hello', '/missing']) await request({ port: edge.port, host: conn.publicHost, path });
    // The edge reports a request as it ends; give the report time to arrive, then stop cleanly.
    await sleep(300);
    const exit = await conn.stop();
    assert.equal(exit.code, 0, conn.proc.output());
    assert.deepEqual(
      conn.events().map((e) => e.event).filter((e) => e !== 'connection'),
      ['ready', 'stopping', 'stopped'],
      conn.proc.output(),
    );
  });

  it('a human view over a pipe prints aligned request lines without escape codes', async () => {
    const proc = new ManagedProcess('connect:plain', process.execPath, [CLI, 'connect', '--port', String(origin.port), '--name', 'plain'], humanEnv());
    try {
      const live = await proc.waitForLine((l) => l.includes(' is live at '), 15_000, 'the ready line');
      const url = /(http:\/\/\S+)/.exec(live)![1]!;
      await request({ port: edge.port, host: new URL(url).host, path: '/hello?token=secret' });
      await proc.waitForLine((l) => humanLine('GET', '/hello', 200).test(l), 5_000, 'the request line');
      const all = [...proc.stdoutLines, ...proc.stderrLines].join('\n');
      assert.doesNotMatch(all, /\u001b/, 'no escape codes when stdout is not a terminal');
      assert.doesNotMatch(all, /secret/);
    } finally {
      await proc.stop('SIGKILL', 5_000).catch(() => undefined);
    }
  });

  it('tmux: the live view in a 120×30 terminal shows the URL, the tunnels and each request, in colour', { skip: !tmuxAvailable() && 'no /usr/bin/tmux' }, async () => {
    const env = { ...humanEnv(), TERM: 'xterm-256color' };
    const term = await TmuxTerminal.start([process.execPath, CLI, 'connect', '--port', String(origin.port), '--name', 'shot'], env);
    try {
      const ready = await term.waitFor((s) => s.includes(' is live at ') && /tunnel 2: up/.test(s), 'the ready block and both tunnels up');
      const url = /(http:\/\/shot-[a-z0-9-]+\.localhost:\d+)/.exec(ready)![1]!;
      const host = new URL(url).host;
      assert.equal((await request({ port: edge.port, host, path: '/hello' })).status, 200);
      const body = Buffer.from('{"hello":"world"}');
      assert.equal((await request({ port: edge.port, host, method: 'POST', path: '/sha256', body, headers: { 'content-length': String(body.length) } })).status, 200);
      assert.equal((await request({ port: edge.port, host, path: '/missing?token=secret' })).status, 404);
      const expected = [humanLine('GET', '/hello', 200), humanLine('POST', '/sha256', 200), humanLine('GET', '/missing', 404)];
      const screen = await term.waitFor((s) => expected.every((line) => line.test(s)), 'three request lines');
      const coloured = await term.capture(true);
      mkdirSync(SHOTS_DIR, { recursive: true });
      writeFileSync(join(SHOTS_DIR, 'connect-live-view.txt'), screen);
      writeFileSync(join(SHOTS_DIR, 'connect-live-view.ansi'), coloured);

      assert.ok(screen.includes(url), 'the URL');
      assert.match(screen, /\d\d:\d\d:\d\d  tunnel 1: up$/m);
      assert.doesNotMatch(screen, /secret/);
      const rows = expected.map((line) => line.exec(screen)![0]);
      const statusColumn = rows.map((row) => row.search(/ (200|404)  /));
      assert.ok(statusColumn.every((c) => c === statusColumn[0]), `status columns ${statusColumn}:\n${rows.join('\n')}`);
      // Colour is on in a terminal: green 2xx, yellow 4xx (chalk's codes, as tmux re-encodes them).
      assert.match(coloured, /\u001b\[32m200\u001b\[39m/);
      assert.match(coloured, /\u001b\[33m404\u001b\[39m/);
    } finally {
      await term.kill();
    }
  });

  it('tmux: NO_COLOR turns colour off even on a terminal', { skip: !tmuxAvailable() && 'no /usr/bin/tmux' }, async () => {
    const env = { ...humanEnv(), TERM: 'xterm-256color', NO_COLOR: '1' };
    const term = await TmuxTerminal.start([process.execPath, CLI, 'connect', '--port', String(origin.port), '--name', 'mono'], env);
    try {
      const ready = await term.waitFor((s) => s.includes(' is live at ') && /tunnel 1: up/.test(s), 'the ready block');
      const host = new URL(/(http:\/\/\S+)/.exec(ready)![1]!).host;
      await request({ port: edge.port, host, path: '/missing' });
      await term.waitFor((s) => humanLine('GET', '/missing', 404).test(s), 'the request line');
      const coloured = await term.capture(true);
      assert.doesNotMatch(coloured, COLOUR, JSON.stringify(coloured));
    } finally {
      await term.kill();
    }
  });
});
