import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CliUser, assertOneErrorLine, describeRun, nonEmpty, startAppOnPort, writeTokenFile } from './lib/cli-user.js';
import { request } from './lib/http.js';
import { EdgeProcess, api, createAccount, createSocket, freePort, makeTempDir, parseJson, type ConnectEvent, type SocketView } from './lib/postern.js';
import { killAll, ManagedProcess } from './lib/process.js';
import { pollUntil } from './lib/wait.js';

/** Every client command, as argv with placeholders filled in by the test. */
function clientCommands(ids: { socket: string; tunnel: string; token: string; port: number }): string[][] {
  return [
    ['whoami'],
    ['socket', 'create', '--name', 'never-made'],
    ['socket', 'ls'],
    ['socket', 'show', ids.socket],
    ['socket', 'update', ids.socket, '--cloudauth'],
    ['socket', 'delete', ids.socket],
    ['tunnel', 'create', '--socket', ids.socket],
    ['tunnel', 'ls'],
    ['tunnel', 'delete', ids.tunnel],
    ['token', 'create'],
    ['token', 'ls'],
    ['token', 'revoke', ids.token],
    ['audit'],
    ['connect', '--port', String(ids.port)],
  ];
}

/** Runs `check` over `items` a few at a time (the machine may have two cores; every run is a Node process). */
async function inBatches<T>(items: readonly T[], check: (item: T) => Promise<void>, size = 4): Promise<void> {
  for (let i = 0; i < items.length; i += size) await Promise.all(items.slice(i, i + size).map(check));
}

/**
 * Bad input to the real `postern` binary: every failure is a non-zero exit with exactly one line on
 * stderr starting with "error:", no stack trace, nothing on stdout, and nothing half-created on the edge.
 */
describe('postern CLI: bad input', () => {
  const tmp = makeTempDir('cli-bad-input');
  const db = join(tmp.dir, 'edge.db');
  let edge: EdgeProcess;
  let aliceToken: string;
  let malloryToken: string;
  /** Alice, by POSTERN_EDGE/POSTERN_TOKEN. */
  let alice: CliUser;
  let alicesSocket: SocketView;
  let mallorysSocket: SocketView;
  let mallorysTunnel: string;
  const spawned: ManagedProcess[] = [];

  before(async () => {
    aliceToken = await createAccount(db, 'alice@example.com');
    malloryToken = await createAccount(db, 'mallory@attacker.test');
    edge = await EdgeProcess.start({ db, label: 'edge' });
    alice = new CliUser(join(tmp.dir, 'alice'), { POSTERN_EDGE: edge.url, POSTERN_TOKEN: aliceToken });
    alicesSocket = await createSocket(edge, aliceToken, 'alices-app');
    mallorysSocket = await createSocket(edge, malloryToken, 'mallorys-app');
    const tunnel = await api(edge, malloryToken, 'POST', '/tunnels', { socket_id: mallorysSocket.id });
    assert.equal(tunnel.status, 201);
    mallorysTunnel = (tunnel.json as { id: string }).id;
  });

  after(async () => {
    for (const proc of spawned) await proc.stop('SIGKILL', 5_000).catch(() => undefined);
    await edge?.stop().catch(() => undefined);
    await killAll();
    tmp.remove();
  });

  /** Alice's sockets as the API lists them (ids, names, rules), to prove nothing changed. */
  async function alicesSockets(): Promise<string> {
    const res = await api(edge, aliceToken, 'GET', '/sockets');
    assert.equal(res.status, 200);
    return JSON.stringify((res.json as (SocketView & { online?: unknown; connections?: unknown })[]).map(({ online: _o, connections: _c, ...rest }) => rest));
  }

  it('unknown flags and unknown commands: one "error:" line (a typo suggestion stays on that line)', async () => {
    const cases: [string[], RegExp][] = [
      ...clientCommands({ socket: alicesSocket.id, tunnel: 'tun_aaaaaaaaaaaa', token: 'tok_aaaaaaaaaa', port: 1 }).map(
        (argv): [string[], RegExp] => [[...argv, '--bogus'], /^error: unknown option '--bogus'$/],
      ),
      [['login', '--bogus'], /^error: unknown option '--bogus'$/],
      [['logout', '--bogus'], /^error: unknown option '--bogus'$/],
      [['edge', '--bogus'], /^error: unknown option '--bogus'$/],
      [['demo', '--bogus'], /^error: unknown option '--bogus'$/],
      [['admin', 'user', 'add', 'x@example.com', '--bogus'], /^error: unknown option '--bogus'$/],
      [['socket', 'ls', '--jsno'], /^error: unknown option '--jsno' \(Did you mean --json\?\)$/],
      [['sockt', 'ls'], /^error: unknown command 'sockt'/],
      [['socket', 'frobnicate'], /^error: unknown command 'frobnicate'/],
      [['nosuchcommand'], /^error: unknown command 'nosuchcommand'/],
    ];
    const before = await alicesSockets();
    await inBatches(cases, async ([argv, expected]) => {
      assert.match(await alice.fails(argv), expected, argv.join(' '));
    });
    assert.equal(await alicesSockets(), before, 'nothing changed on the edge');
  });

  it('missing required values and arguments', async () => {
    const cases: [string[], RegExp][] = [
      [['socket', 'create'], /^error: required option '--name <name>' not specified \(e\.g\. --name grafana\)$/],
      [['socket', 'create', '--name'], /^error: option '--name <name>' argument missing$/],
      [['socket', 'show'], /^error: missing required argument 'id'$/],
      [['socket', 'update'], /^error: missing required argument 'id'$/],
      [['socket', 'delete'], /^error: missing required argument 'id'$/],
      [['tunnel', 'create'], /^error: required option '--socket <id>' not specified \(e\.g\. --socket sck_… from "postern socket ls"\)$/],
      [['tunnel', 'create', '--socket'], /^error: option '--socket <id>' argument missing$/],
      [['tunnel', 'delete'], /^error: missing required argument 'id'$/],
      [['token', 'revoke'], /^error: missing required argument 'id'$/],
      [['token', 'create', '--expires'], /^error: option '--expires <duration>' argument missing$/],
      [['audit', '--since'], /^error: option '--since <when>' argument missing$/],
      [['connect'], /^error: required option '--port <port>' not specified \(e\.g\. --port 3000\)$/],
      [['tcp', '--listen', '5432'], /^error: required option '--socket <name>' not specified/],
      // A misspelt required option is a typo, not a missing option: the suggestion names the right one.
      [['connect', '--prot', '3000'], /^error: unknown option '--prot' \(Did you mean --port\?\)$/],
      [['socket', 'create', '--nmae', 'x'], /^error: unknown option '--nmae' \(Did you mean --name\?\)$/],
      [['connect', '--port'], /^error: option '--port <port>' argument missing$/],
      [['login', '--edge'], /^error: option '--edge <url>' argument missing$/],
      [['whoami', '--token-file'], /^error: option '--token-file <file>' argument missing$/],
    ];
    await inBatches(cases, async ([argv, expected]) => {
      assert.match(await alice.fails(argv), expected, argv.join(' '));
    });
  });

  it('values the CLI or the edge refuse: names, rules, numbers, durations, ids', async () => {
    const before = await alicesSockets();
    const cases: [string[], RegExp][] = [
      [['socket', 'create', '--name', 'admin'], /^error: "admin" is a reserved name on this edge; pick another/],
      [['socket', 'create', '--name', 'WWW'], /^error: "www" is a reserved name/],
      [['socket', 'create', '--name', '!!!'], /^error: "!!!" has no letters or digits to make a hostname from$/],
      [['socket', 'create', '--name', 'x', '--protocol', 'udp'], /^error: --protocol must be http or tcp, not "udp"$/],
      [['socket', 'create', '--name', 'x', '--allowed-email-domains', 'not a domain!'], /^error: "not a domain!" is not an email domain/],
      [['socket', 'create', '--name', 'x', '--allowed-email-addresses', 'nobody'], /^error: "nobody" is not an email address$/],
      [['socket', 'create', '--name', 'x', '--allowed-github-teams', 'no-slash'], /^error: "no-slash" is not a GitHub team/],
      [['socket', 'create', '--name', 'alices-app'], /^error: you already have a socket at alices-app-\w+/],
      [['socket', 'update', alicesSocket.id, '--name', 'api'], /^error: "api" is a reserved name/],
      [['socket', 'update', alicesSocket.id, '--allowed-email-domains', 'a.example', '--no-cloudauth'], /^error: access rules need sign-in/],
      [['socket', 'show', 'not-an-id'], /^error: .*sck_/],
      [['connect', '--port', '0'], /^error: --port must be a whole number from 1 to 65535, not "0"$/],
      [['connect', '--port', 'http'], /^error: --port must be a whole number/],
      [['connect', '--port', '8080', '--connections', '99'], /^error: --connections must be a whole number from 1 to 16/],
      [['connect', '--port', '8080', '--grace', 'forever'], /^error: --grace must be a duration/],
      [['connect', '--port', '8080', '--ping-interval', '0s'], /^error: --ping-interval must be greater than zero$/],
      [['connect', '--port', '8080', '--ping-interval', '30s'], /^error: --ping-timeout must be longer than --ping-interval/],
      [['connect', '--port', '8080', '--host', 'a b'], /^error: --host must be a host name or address/],
      [['connect', '--port', '8080', '--tunnel', 'tun_aaaaaaaaaaaa'], /^error: --tunnel needs --socket/],
      [['connect', '--port', '8080', '--socket', alicesSocket.id, '--name', 'x'], /^error: --name and access-rule flags describe a new quick share/],
      [['connect', '--port', '8080', '--name', 'api'], /^error: "api" is a reserved name/],
      [['connect', '--port', '8080', '--name', 'x', '--allowed-email-domains', 'not a domain!'], /^error: "not a domain!" is not an email domain/],
      [['connect', '--port', '8080', '--name', 'x', '--allowed_email_addresses', 'nobody'], /^error: "nobody" is not an email address$/],
      // The examples are ones the edge accepts (a token lives at least a minute), and the range is the CLI's to tell.
      [['token', 'create', '--expires', 'soon'], /^error: --expires must be a duration such as 2m, 12h or 30d, not "soon"$/],
      [['token', 'create', '--expires', '10s'], /^error: --expires must be at least 1m, not "10s"$/],
      [['token', 'create', '--expires', '6000d'], /^error: --expires must be at most 1825d, not "6000d"$/],
      [['token', 'revoke', 'tok_aaaaaaaaaa'], /^error: token tok_aaaaaaaaaa does not exist$/],
      [['audit', '--since', 'yesterday'], /^error: --since must be a duration/],
      [['audit', '--since', '2030-13-45T00:00:00Z'], /^error: --since must be a duration such as 2h or an ISO time/],
      [['audit', '--limit', '0'], /^error: --limit must be a whole number from 1 to 1000, not "0"$/],
      [['audit', '--limit', 'lots'], /^error: --limit must be a whole number/],
      [['whoami', '--edge', 'not a url'], /^error: --edge must be a URL such as http:\/\/localhost:8080, not "not a url"$/],
      [['whoami', '--edge', 'ftp://edge.example'], /^error: --edge must start with http:\/\/ or https:\/\//],
      [['whoami', '--edge', 'localhost:8080'], /^error: --edge must start with http:\/\/ or https:\/\/, not "localhost:8080" \(did you mean http:\/\/localhost:8080\?\)$/],
      [['whoami', '--token-file', join(tmp.dir, 'missing-token')], /^error: cannot read --token-file .*missing-token: ENOENT$/],
      [['edge', '--log-level', 'loud'], /^error: --log-level must be one of .*not "loud"$/],
      [['edge', '--listen', 'nonsense'], /^error: --listen must be HOST:PORT/],
      [['edge', '--tunnel-ping-timeout', '5s'], /^error: --tunnel-ping-timeout must be longer than --tunnel-ping-interval/],
      [['demo', '--port', '0'], /^error: --port must be a whole number from 1 to 65535/],
      [['admin', 'user', 'add', 'not-an-email', '--db', join(tmp.dir, 'admin.db')], /^error: "not-an-email" is not an email address$/],
      [['admin', 'token', 'create', 'nobody@example.com', '--db', db], /^error: no account for nobody@example\.com/],
      [['admin', 'token', 'create', 'nobody@example.com', '--store', db], /^error: no account for nobody@example\.com/],
      [['admin', 'user', 'add', 'x@example.com', '--db', db, '--store', db], /^error: give --db or --store, not both: /],
      // A store that is not there is named without its password.
      [['admin', 'user', 'add', 'x@example.com', '--store', 'postgres://edge:s3cret@127.0.0.1:1/postern'], /^error: cannot open the store postgres:\/\/edge@127\.0\.0\.1:1\/postern: (?!.*s3cret)/],
    ];
    await inBatches(cases, async ([argv, expected]) => {
      assert.match(await alice.fails(argv), expected, argv.join(' '));
    });
    // The edge's settings name their source: a variable, or the config file and its key.
    assert.match(await alice.fails(['edge', '--print-config'], { POSTERN_UPSTREAM_TIMEOUT: '-5s' }), /^error: POSTERN_UPSTREAM_TIMEOUT must be a positive duration such as 30s.*, not "-5s"$/);
    const edgeYaml = join(tmp.dir, 'bad-edge.yaml');
    writeFileSync(edgeYaml, 'local_accounts: "maybe"\n');
    assert.equal(await alice.fails(['edge', '--config', edgeYaml, '--print-config']), `error: ${edgeYaml}: local_accounts must be true or false, not "maybe"`);
    assert.equal(await alicesSockets(), before, 'no socket was created or changed by a refused command (quick connects included)');
    const tunnels = await api(edge, aliceToken, 'GET', '/tunnels');
    assert.deepEqual(tunnels.json, [], 'and no tunnel was left behind');
  });

  it('an unreachable edge: "cannot reach the edge" from every client command and from login', async () => {
    const port = await freePort();
    const unreachable = `http://127.0.0.1:${port}`;
    const tokenFile = writeTokenFile(join(tmp.dir, 'alice.token'), aliceToken);
    const nobody = new CliUser(join(tmp.dir, 'unreachable'));
    const cases = [
      ...clientCommands({ socket: alicesSocket.id, tunnel: 'tun_aaaaaaaaaaaa', token: 'tok_aaaaaaaaaa', port: 1 }).map((argv) => [
        ...argv,
        '--edge',
        unreachable,
        '--token-file',
        tokenFile,
      ]),
      ['login', '--edge', unreachable, '--token-file', tokenFile],
      ['login', '--edge', unreachable, '--json'],
    ];
    const expected = new RegExp(`^error: cannot reach the edge at ${unreachable.replace(/\./g, '\\.')}: ECONNREFUSED$`);
    await inBatches(cases, async (argv) => {
      assert.match(await nobody.fails(argv), expected, argv.join(' '));
    });
    // POSTERN_EDGE/POSTERN_TOKEN take the same path.
    assert.match(await nobody.fails(['socket', 'ls', '--json'], { POSTERN_EDGE: unreachable, POSTERN_TOKEN: aliceToken }), expected);
  });

  it('a revoked token and an unknown token: one line that says so, from every client command', async () => {
    const revoked = await createAccountToken('alice@example.com');
    const res = await api(edge, revoked, 'DELETE', '/tokens/current');
    assert.equal(res.status, 204);
    const ids = { socket: alicesSocket.id, tunnel: 'tun_aaaaaaaaaaaa', token: 'tok_aaaaaaaaaa', port: 1 };
    const withRevoked = new CliUser(join(tmp.dir, 'revoked'), { POSTERN_EDGE: edge.url, POSTERN_TOKEN: revoked });
    const withUnknown = new CliUser(join(tmp.dir, 'unknown'), { POSTERN_EDGE: edge.url, POSTERN_TOKEN: 'pst_xxx' });
    const before = await alicesSockets();
    await inBatches(clientCommands(ids), async (argv) => {
      assert.match(await withRevoked.fails(argv), /^error: this Postern token was revoked on \S+: run "postern login" for a new one$/, argv.join(' '));
      assert.match(await withUnknown.fails(argv), /^error: missing or unknown Postern token: run "postern login"/, argv.join(' '));
    });
    assert.match(await withRevoked.fails(['login', '--json']), /revoked/, 'login checks the token before storing it');
    assert.match(await withUnknown.fails(['login', '--json']), /unknown Postern token/);
    assert.equal(await alicesSockets(), before, 'nothing changed with a dead token');
  });

  it("another account's socket or tunnel is reported as missing, exactly like an id that never existed", async () => {
    const missing = 'sck_000000000000';
    const before = await api(edge, malloryToken, 'GET', `/sockets/${mallorysSocket.id}`);
    const cases: [string[], string[]][] = [
      [['socket', 'show', mallorysSocket.id], ['socket', 'show', missing]],
      [['socket', 'update', mallorysSocket.id, '--cloudauth'], ['socket', 'update', missing, '--cloudauth']],
      [['socket', 'delete', mallorysSocket.id], ['socket', 'delete', missing]],
      [['tunnel', 'create', '--socket', mallorysSocket.id], ['tunnel', 'create', '--socket', missing]],
      [['tunnel', 'delete', mallorysTunnel], ['tunnel', 'delete', 'tun_000000000000']],
      [['connect', '--port', '8080', '--socket', mallorysSocket.id], ['connect', '--port', '8080', '--socket', missing]],
    ];
    await inBatches(cases, async ([theirs, never]) => {
      const a = await alice.fails(theirs);
      const b = await alice.fails(never);
      assert.match(a, /^error: (socket|tunnel) \S+ does not exist$/, theirs.join(' '));
      assert.equal(a.replace(/(sck|tun)_[a-z0-9]+/g, 'ID'), b.replace(/(sck|tun)_[a-z0-9]+/g, 'ID'), 'the same answer as for an id that never existed');
      assert.doesNotMatch(a, /mallory|mallorys-app/, 'nothing about the owner or name leaks');
    });
    // Listing by another account's socket shows nothing of it.
    assert.deepEqual(await alice.json(['tunnel', 'ls', '--socket', mallorysSocket.id, '--json']), []);
    assert.deepEqual(await alice.json(['audit', '--socket', mallorysSocket.id, '--json']), []);
    // And Mallory's socket and tunnel are untouched.
    const after = await api(edge, malloryToken, 'GET', `/sockets/${mallorysSocket.id}`);
    assert.deepEqual(after.json, before.json);
    const tunnels = await api(edge, malloryToken, 'GET', `/tunnels?socket=${mallorysSocket.id}`);
    assert.deepEqual((tunnels.json as { id: string }[]).map((t) => t.id), [mallorysTunnel]);
  });

  it('connect to a port nobody listens on: warns, keeps the tunnel up, 502 APP_UNREACHABLE until the app starts, then 200', async () => {
    const port = await freePort();
    const proc = alice.spawn('connect:nothing-listening', ['connect', '--port', String(port), '--name', 'late-app', '--json']);
    spawned.push(proc);
    const readyLine = await proc.waitForLine((l, s) => s === 'stdout' && parseJson<ConnectEvent>(l)?.event === 'ready', 15_000, 'the ready line');
    assert.equal(nonEmpty(proc.stdoutLines)[0], readyLine, 'ready is the first line');
    const ready = parseJson<{ url: string }>(readyLine)!;
    const warning = await proc.waitForLine((l, s) => s === 'stdout' && parseJson<ConnectEvent>(l)?.event === 'warning', 10_000, 'the warning event');
    assert.match(String(parseJson<{ message: string }>(warning)!.message), new RegExp(`^nothing is listening on 127\\.0\\.0\\.1:${port} yet`));
    assert.deepEqual(nonEmpty(proc.stderrLines), [], 'with --json the warning is a JSON event, stderr stays empty');

    const host = new URL(ready.url).host;
    const down = await request({ port: edge.port, host, path: '/' });
    assert.equal(down.status, 502);
    assert.equal(down.headers['postern-error'], 'APP_UNREACHABLE');
    assert.ok(proc.running, 'connect keeps running');

    const app = await startAppOnPort(port, 'late but here');
    try {
      const up = await pollUntil(
        async () => {
          const res = await request({ port: edge.port, host, path: '/' });
          return res.status === 200 ? res : undefined;
        },
        { timeoutMs: 5_000, intervalMs: 100, what: 'the app to be reachable once it listens' },
      );
      assert.equal(up.body.toString('utf8'), 'late but here');
      assert.equal(app.hits(), 1, 'the first request after the app started reached it');
    } finally {
      const exit = await proc.stop('SIGTERM', 10_000);
      assert.equal(exit.code, 0, proc.output());
      await app.close();
    }

    // Without --json the warning is one "!" line on stderr (not an error).
    const human = alice.spawn('connect:human', ['connect', '--port', String(await freePort()), '--name', 'late-human']);
    spawned.push(human);
    const line = await human.waitForLine((l, s) => s === 'stderr' && /nothing is listening/.test(l), 15_000, 'the human warning');
    assert.match(line, /^! nothing is listening on 127\.0\.0\.1:\d+ yet: visitors get a 502 page until the app starts$/);
    assert.equal((await human.stop('SIGINT', 10_000)).code, 0, human.output());
    assert.doesNotMatch(human.stderrLines.join('\n'), /error:/);
  });

  it('an unexpected failure is one "unexpected failure" line; --debug adds the stack', async () => {
    const garbage = join(tmp.dir, 'not-a-database.db');
    writeFileSync(garbage, 'this is not SQLite '.repeat(100));
    const argv = ['admin', 'user', 'add', 'someone@example.com', '--db', garbage];
    const line = await alice.fails(argv);
    assert.match(line, /^error: unexpected failure: /);
    const debug = await alice.run(['--debug', ...argv]);
    assert.notEqual(debug.code, 0, describeRun(argv, debug));
    assert.equal(nonEmpty(debug.stderr)[0], line, 'the same first line');
    assert.match(debug.stderr.join('\n'), /^\s+at /m, `--debug shows the stack\n${describeRun(argv, debug)}`);
    // A known error under --debug: still the same message first.
    const known = await alice.run(['--debug', 'socket', 'show', 'sck_000000000000']);
    assert.equal(nonEmpty(known.stderr)[0], 'error: socket sck_000000000000 does not exist');
    assertOneErrorLine(['socket', 'show', 'sck_000000000000'], await alice.run(['socket', 'show', 'sck_000000000000']));
  });

  it('the environment is blamed by name, not a flag the user never typed', async () => {
    const nobody = new CliUser(join(tmp.dir, 'env-edge'));
    for (const argv of [['socket', 'ls'], ['whoami'], ['login', '--json']]) {
      const line = await nobody.fails(argv, { POSTERN_EDGE: 'localhost:8080', POSTERN_TOKEN: aliceToken });
      assert.equal(line, 'error: POSTERN_EDGE must start with http:// or https://, not "localhost:8080" (did you mean http://localhost:8080?)', argv.join(' '));
    }
  });

  it('an edge URL that is some other web server (Python http.server): one line saying so, not its page', async () => {
    const port = await freePort();
    const root = join(tmp.dir, 'www');
    mkdirSync(join(root, 'api', 'v1'), { recursive: true });
    writeFileSync(join(root, 'api', 'v1', 'whoami'), '<!doctype html><h1>hello</h1>\n'.repeat(20));
    const server = new ManagedProcess('python http.server', 'python3', ['-m', 'http.server', String(port), '--bind', '127.0.0.1'], process.env, root);
    spawned.push(server);
    const url = `http://127.0.0.1:${port}`;
    await pollUntil(async () => ((await request({ port, host: `127.0.0.1:${port}`, path: '/' })).status === 200 ? true : undefined), {
      timeoutMs: 10_000,
      what: 'python http.server to listen',
    });
    const nobody = new CliUser(join(tmp.dir, 'not-an-edge'), { POSTERN_EDGE: url, POSTERN_TOKEN: aliceToken });
    const notAnEdge = (answer: string) =>
      new RegExp(`^error: ${url.replace(/\./g, '\\.')} does not look like a Postern edge \\(it answered ${answer}\\): check the edge URL \\(--edge or POSTERN_EDGE\\)$`);
    assert.match(await nobody.fails(['socket', 'ls']), notAnEdge('404 text/html to GET /api/v1/sockets'));
    assert.match(await nobody.fails(['connect', '--port', '3000', '--name', 'x']), notAnEdge('\\d+ text/html to POST /api/v1/sockets'));
    // One that answers 200 with something that is not the API's JSON is no edge either.
    assert.match(await nobody.fails(['whoami']), notAnEdge('200 application/octet-stream to GET /api/v1/whoami'));
  });

  it('the edge on a busy port, or with a database directory that does not exist: one line naming the flag to change', async () => {
    const busy = await alice.fails(['edge', '--listen', `127.0.0.1:${edge.port}`, '--db', join(tmp.dir, 'second.db')]);
    assert.equal(busy, `error: cannot listen on 127.0.0.1:${edge.port} (--listen): the address is already in use (another edge or app holds it); stop what holds it, or choose another address with --listen`);
    const missingDir = join(tmp.dir, 'no', 'such', 'dir');
    const expected = `error: cannot open the database ${join(missingDir, 'edge.db')} (--db): the directory ${missingDir} does not exist; create it, or choose another --db`;
    assert.equal(await alice.fails(['edge', '--listen', '127.0.0.1:0', '--db', join(missingDir, 'edge.db')]), expected);
    assert.equal(await alice.fails(['admin', 'user', 'add', 'someone@example.com', '--db', join(missingDir, 'edge.db')]), expected);
  });

  /** A fresh token for an existing account (admin path, as `createAccount` does). */
  async function createAccountToken(email: string): Promise<string> {
    return createAccount(db, email);
  }
});
