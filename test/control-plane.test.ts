import assert from 'node:assert/strict';
import { existsSync, openSync, readSync, closeSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CliUser, assertOneErrorLine, nonEmpty, writeTokenFile } from './lib/cli-user.js';
import { request } from './lib/http.js';
import { Origin } from './lib/origin.js';
import { EdgeProcess, api, createAccount, makeTempDir, parseJson, type ConnectEvent, type ReadyEvent } from './lib/postern.js';
import { killAll, type ManagedProcess } from './lib/process.js';
import { pollUntil } from './lib/wait.js';

/** What `socket create/show/update --json` print (the fields the contract names, and a few more). */
interface SocketJson {
  id: string;
  name: string;
  hostname: string;
  url: string;
  protocol: string;
  cloudauth: boolean;
  allowed_email_domains: string[];
  allowed_email_addresses: string[];
  allowed_github_orgs: string[];
  ephemeral: boolean;
  online: boolean;
  connections: number;
}

interface TunnelJson {
  id: string;
  socket_id: string;
  name: string;
  status: 'connected' | 'offline';
  connections: number;
}

interface TokenJson {
  id: string;
  name: string;
  expires_at: string | null;
  revoked_at: string | null;
  current: boolean;
}

interface AuditJson {
  id: number;
  at: string;
  type: string;
  socket_id: string | null;
  actor: string | null;
  detail: Record<string, unknown>;
}

/**
 * The control plane as a user drives it: the real `postern` binary against a real edge with a real
 * SQLite file. Login by token, credentials on disk, where tokens may go, sockets, tunnels, permanent
 * and quick connects, tokens, audit, logout, and the OpenAPI document.
 */
describe('control plane through the postern CLI', () => {
  const tmp = makeTempDir('control-plane');
  const db = join(tmp.dir, 'edge.db');
  let edge: EdgeProcess;
  /** A second, unrelated edge: the stored token must never be sent there. */
  let otherEdge: EdgeProcess;
  let origin: Origin;
  let aliceToken: string;
  let tokenFile: string;
  /** Alice, logged in with `postern login --token-file` (stored credentials, no env). */
  let alice: CliUser;
  const spawned: ManagedProcess[] = [];

  /** A permanent socket with a tunnel, served by a connector in one of the tests; the audit test checks its events. */
  let served: { socketId: string; tunnelId: string } | undefined;
  /** Quick-share socket ids, for the audit checks. */
  let quickSocketId: string | undefined;
  let revokedTokenId: string | undefined;

  before(async () => {
    aliceToken = await createAccount(db, 'alice@example.com');
    edge = await EdgeProcess.start({ db, label: 'edge' });
    otherEdge = await EdgeProcess.start({ db: join(tmp.dir, 'other.db'), label: 'other-edge' });
    origin = await Origin.start();
    tokenFile = writeTokenFile(join(tmp.dir, 'alice.token'), aliceToken);
    alice = new CliUser(join(tmp.dir, 'alice'));
  });

  after(async () => {
    for (const proc of spawned) await proc.stop('SIGKILL', 5_000).catch(() => undefined);
    await edge?.stop().catch(() => undefined);
    await otherEdge?.stop().catch(() => undefined);
    await killAll();
    await origin?.close();
    tmp.remove();
  });

  /** Spawns `postern connect ...` for alice (stored login) and waits for its first stdout line, which must be the ready event. */
  async function startConnect(label: string, args: readonly string[], user = alice): Promise<{ proc: ManagedProcess; ready: ReadyEvent }> {
    const proc = user.spawn(label, ['connect', '--json', ...args]);
    spawned.push(proc);
    const line = await proc.waitForLine((l, stream) => stream === 'stdout' && l.trim() !== '', 15_000, 'the first stdout line');
    const ready = parseJson<ReadyEvent>(line);
    assert.equal(ready?.event, 'ready', `the first line is the ready event\n${proc.output()}`);
    return { proc, ready: ready! };
  }

  it('logs in with --token-file: credentials stored 0600 in a 0700 dir; whoami --json names the account', async () => {
    const login = await alice.json<{ edge: string; email: string; token_id: string; publisher: boolean; credentials: string }>([
      'login',
      '--edge',
      edge.url,
      '--token-file',
      tokenFile,
      '--json',
    ]);
    assert.equal(login.edge, edge.url);
    assert.equal(login.email, 'alice@example.com');
    assert.equal(login.publisher, true, 'an account made by "admin user add" may publish');
    assert.match(login.token_id, /^tok_/);
    assert.equal(login.credentials, alice.credentialsFile);

    assert.ok(existsSync(alice.credentialsFile), 'the credentials file exists');
    assert.equal(statSync(alice.credentialsFile).mode & 0o777, 0o600, 'credentials.json is 0600');
    assert.equal(statSync(alice.credentialsDir).mode & 0o777, 0o700, 'its directory is 0700');
    const stored = JSON.parse(readFileSync(alice.credentialsFile, 'utf8')) as { edge: string; token: string; email: string };
    assert.equal(stored.edge, edge.url);
    assert.equal(stored.token, aliceToken);
    assert.equal(stored.email, 'alice@example.com');

    const me = await alice.json<{ email: string; publisher: boolean; edge: string; token: { id: string; current: boolean } }>(['whoami', '--json']);
    assert.equal(me.email, 'alice@example.com');
    assert.equal(me.edge, edge.url);
    assert.equal(me.token.id, login.token_id);
    assert.equal(me.token.current, true);
  });

  it('every client command works with only the stored login (no env, no flags)', async () => {
    const [me, ...lists] = await Promise.all([
      alice.json(['whoami', '--json']),
      ...[['socket', 'ls'], ['tunnel', 'ls'], ['token', 'ls'], ['audit']].map((list) => alice.json([...list, '--json'])),
    ]);
    assert.equal(me!.email, 'alice@example.com');
    for (const list of lists) assert.ok(Array.isArray(list), 'ls and audit --json print arrays');
    const created = await alice.json<SocketJson>(['socket', 'create', '--name', 'stored-login', '--json']);
    assert.equal((await alice.json<SocketJson>(['socket', 'show', created.id, '--json'])).id, created.id);
    const tunnel = await alice.json<TunnelJson>(['tunnel', 'create', '--socket', created.id, '--json']);
    assert.deepEqual(await alice.json(['tunnel', 'delete', tunnel.id, '--json']), { id: tunnel.id, deleted: true });
    assert.deepEqual(await alice.json(['socket', 'delete', created.id, '--json']), { id: created.id, deleted: true });
  });

  it('every client command works with only POSTERN_EDGE/POSTERN_TOKEN, or --edge/--token-file, and no stored login', async () => {
    const envOnly = new CliUser(join(tmp.dir, 'env-only'), { POSTERN_EDGE: edge.url, POSTERN_TOKEN: aliceToken });
    const flagsOnly = new CliUser(join(tmp.dir, 'flags-only'));
    const flags = ['--edge', edge.url, '--token-file', tokenFile];
    const exercise = async (who: CliUser, extra: readonly string[], name: string) => {
      const [me, ...lists] = await Promise.all([
        who.json(['whoami', '--json', ...extra]),
        ...[['socket', 'ls'], ['tunnel', 'ls'], ['token', 'ls'], ['audit']].map((list) => who.json([...list, '--json', ...extra])),
      ]);
      assert.equal(me!.email, 'alice@example.com');
      for (const list of lists) assert.ok(Array.isArray(list), 'ls and audit print arrays');
      const created = await who.json<SocketJson>(['socket', 'create', '--name', name, '--json', ...extra]);
      assert.equal(created.name, name);
      const updated = await who.json<SocketJson>(['socket', 'update', created.id, '--cloudauth', '--json', ...extra]);
      assert.equal(updated.cloudauth, true);
      const [shown, tunnel, token] = await Promise.all([
        who.json<SocketJson>(['socket', 'show', created.id, '--json', ...extra]),
        who.json<TunnelJson>(['tunnel', 'create', '--socket', created.id, '--json', ...extra]),
        who.json<{ id: string; token: string }>(['token', 'create', '--name', 'throwaway', '--json', ...extra]),
      ]);
      assert.equal(shown.cloudauth, true);
      assert.equal(tunnel.socket_id, created.id);
      assert.deepEqual(
        await Promise.all([
          who.json(['tunnel', 'delete', tunnel.id, '--json', ...extra]),
          who.json(['token', 'revoke', token.id, '--json', ...extra]),
        ]),
        [
          { id: tunnel.id, deleted: true },
          { id: token.id, revoked: true },
        ],
      );
      assert.deepEqual(await who.json(['socket', 'delete', created.id, '--json', ...extra]), { id: created.id, deleted: true });
      // Nothing was written into that person's config directory.
      assert.equal(existsSync(who.credentialsFile), false, 'no credentials were stored');
    };
    await Promise.all([exercise(envOnly, [], 'env-only'), exercise(flagsOnly, flags, 'flags-only')]);
    // A quick connect with only the environment.
    const { proc, ready } = await startConnect('connect:env-only', ['--port', String(origin.port), '--name', 'env-quick'], envOnly);
    const res = await request({ port: edge.port, host: new URL(ready.url).host, path: '/hello' });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString('utf8'), 'hello from origin');
    assert.equal((await proc.stop('SIGTERM', 10_000)).code, 0, proc.output());
    // Without any of them, a one-line error says what to do.
    const nothing = new CliUser(join(tmp.dir, 'nothing'));
    assert.match(await nothing.fails(['socket', 'ls', '--json']), /^error: not logged in: run "postern login --edge URL"/);
  });

  it('never sends the stored token to another edge: --edge or POSTERN_EDGE elsewhere fails with "no token for …"', async () => {
    const requestsBefore = otherEdge.logs().filter((l) => l.msg === 'incoming request').length;
    const expected = new RegExp(`^error: no token for ${otherEdge.url.replace(/[.]/g, '\\.')}: run "postern login --edge ${otherEdge.url.replace(/[.]/g, '\\.')}"`);
    for (const args of [
      ['socket', 'ls', '--edge', otherEdge.url, '--json'],
      ['whoami', '--edge', otherEdge.url],
      ['socket', 'create', '--name', 'stolen', '--edge', otherEdge.url, '--json'],
      ['audit', '--edge', otherEdge.url, '--json'],
      ['connect', '--port', String(origin.port), '--edge', otherEdge.url, '--json'],
    ]) {
      assert.match(await alice.fails(args), expected);
    }
    assert.match(await alice.fails(['tunnel', 'ls', '--json'], { POSTERN_EDGE: otherEdge.url }), expected);
    // The other edge never saw a request (so never saw the token).
    const requestsAfter = otherEdge.logs().filter((l) => l.msg === 'incoming request').length;
    assert.equal(requestsAfter, requestsBefore, 'the other edge received no request');
    assert.ok(edge.logs().some((l) => l.msg === 'incoming request'), 'the edge does log requests (so the check above means something)');
    // The stored login still works for its own edge (also spelled with a trailing slash).
    assert.equal((await alice.json(['whoami', '--json', '--edge', `${edge.url}/`])).email, 'alice@example.com');
  });

  it('socket create/ls/show/update/delete with --json; stable hostname; lists replaced; --no-cloudauth with rules refused', async () => {
    const created = await alice.json<SocketJson>([
      'socket',
      'create',
      '--name',
      'grafana',
      '--cloudauth',
      '--allowed-email-domains',
      'example.com,Corp.COM',
      '--allowed-email-addresses',
      'bob@partner.test,carol@partner.test',
      '--json',
    ]);
    for (const field of ['id', 'name', 'hostname', 'url', 'protocol', 'cloudauth', 'allowed_email_domains', 'allowed_email_addresses']) {
      assert.ok(field in created, `socket create --json has "${field}": ${JSON.stringify(created)}`);
    }
    assert.match(created.id, /^sck_[a-z0-9]{12}$/);
    assert.equal(created.name, 'grafana');
    assert.equal(created.protocol, 'http');
    assert.equal(created.cloudauth, true);
    assert.deepEqual(created.allowed_email_domains, ['example.com', 'corp.com'], 'domains normalised to lower case');
    assert.deepEqual(created.allowed_email_addresses, ['bob@partner.test', 'carol@partner.test']);
    assert.equal(created.ephemeral, false);
    const me = await alice.json<{ id: string }>(['whoami', '--json']);
    const label = `grafana-${me.id.slice(0, 6)}`;
    assert.equal(created.hostname, `${label}.localhost`, 'permanent hostname is <name>-<first 6 of the account id>');
    assert.equal(created.url, `http://${label}.localhost:${edge.port}`);

    const listed = await alice.json<SocketJson[]>(['socket', 'ls', '--json']);
    assert.ok(Array.isArray(listed));
    const row = listed.find((s) => s.id === created.id);
    assert.ok(row, 'socket ls --json lists the new socket');
    assert.equal(row.hostname, created.hostname);
    assert.equal(row.online, false);

    const shown = await alice.json<SocketJson>(['socket', 'show', created.id, '--json']);
    assert.equal(shown.id, created.id);
    assert.deepEqual(shown.allowed_email_domains, created.allowed_email_domains);

    // A second socket of the same name: refused, nothing created.
    assert.match(await alice.fails(['socket', 'create', '--name', 'grafana', '--json']), /^error: you already have a socket at grafana-\w+ .*pick another name/);
    assert.equal((await alice.json<SocketJson[]>(['socket', 'ls', '--json'])).filter((s) => s.name === 'grafana').length, 1);

    // Update replaces the list given and keeps the others; the hostname never changes.
    const updated = await alice.json<SocketJson>(['socket', 'update', created.id, '--allowed-email-domains', 'new.example', '--name', 'Grafana prod', '--json']);
    assert.deepEqual(updated.allowed_email_domains, ['new.example'], 'the new list replaces the old one');
    assert.deepEqual(updated.allowed_email_addresses, created.allowed_email_addresses, 'a list not given is kept');
    assert.equal(updated.name, 'Grafana prod');
    assert.equal(updated.hostname, created.hostname, 'renaming never changes the hostname');
    const emptied = await alice.json<SocketJson>(['socket', 'update', created.id, '--allowed_email_addresses', 'dave@partner.test', '--json']);
    assert.deepEqual(emptied.allowed_email_addresses, ['dave@partner.test'], 'underscore alias on update');

    // Public while rules exist: refused, and the socket is unchanged.
    assert.match(await alice.fails(['socket', 'update', created.id, '--no-cloudauth', '--json']), /^error: access rules need sign-in/);
    assert.match(
      await alice.fails(['socket', 'update', created.id, '--no-cloudauth', '--allowed-email-domains', 'x.example', '--json']),
      /^error: access rules need sign-in/,
    );
    const unchanged = await alice.json<SocketJson>(['socket', 'show', created.id, '--json']);
    assert.equal(unchanged.cloudauth, true);
    assert.deepEqual(unchanged.allowed_email_domains, ['new.example']);

    // Delete, then re-create the same name: the same hostname comes back.
    assert.deepEqual(await alice.json(['socket', 'delete', created.id, '--json']), { id: created.id, deleted: true });
    assert.match(await alice.fails(['socket', 'show', created.id, '--json']), new RegExp(`^error: socket ${created.id} does not exist`));
    assert.ok(!(await alice.json<SocketJson[]>(['socket', 'ls', '--json'])).some((s) => s.id === created.id));
    const again = await alice.json<SocketJson>(['socket', 'create', '--name', 'grafana', '--json']);
    assert.notEqual(again.id, created.id, 'a new socket');
    assert.equal(again.hostname, created.hostname, 'the hostname is stable across delete and re-create');
    assert.equal(again.url, created.url);
    assert.equal(again.cloudauth, false, 'no rules given: public');
    await alice.json(['socket', 'delete', again.id, '--json']);
  });

  it(
    'socket update --name on a public socket keeps it public (rename does not change access); typed --cloudauth/--no-cloudauth apply',
    async () => {
      const pub = await alice.json<SocketJson>(['socket', 'create', '--name', 'public-docs', '--json']);
      try {
        assert.equal(pub.cloudauth, false);
        const renamed = await alice.json<SocketJson>(['socket', 'update', pub.id, '--name', 'public-docs-2', '--json']);
        assert.equal(renamed.name, 'public-docs-2');
        assert.equal(renamed.cloudauth, false, 'a rename must not turn sign-in on');
        // And an update with nothing to change is refused instead of silently changing access.
        assert.match(await alice.fails(['socket', 'update', pub.id, '--json']), /^error: nothing to change/);
        assert.equal((await alice.json<SocketJson>(['socket', 'update', pub.id, '--cloudauth', '--json'])).cloudauth, true);
        assert.equal((await alice.json<SocketJson>(['socket', 'update', pub.id, '--no-cloudauth', '--json'])).cloudauth, false);
      } finally {
        await alice.run(['socket', 'delete', pub.id, '--json']);
      }
    },
  );

  it('tunnel create/ls/delete --json; permanent connect serves the origin; deleting the tunnel ends the connect', async () => {
    const socket = await alice.json<SocketJson>(['socket', 'create', '--name', 'wiki', '--json']);
    const otherSocket = await alice.json<SocketJson>(['socket', 'create', '--name', 'wiki-staging', '--json']);
    const tunnel = await alice.json<TunnelJson>(['tunnel', 'create', '--socket', socket.id, '--name', 'laptop', '--json']);
    assert.match(tunnel.id, /^tun_/);
    assert.equal(tunnel.socket_id, socket.id);
    assert.equal(tunnel.name, 'laptop');
    assert.equal(tunnel.status, 'offline');
    const otherTunnel = await alice.json<TunnelJson>(['tunnel', 'create', '--socket', otherSocket.id, '--json']);

    const all = await alice.json<TunnelJson[]>(['tunnel', 'ls', '--json']);
    assert.ok(all.some((t) => t.id === tunnel.id) && all.some((t) => t.id === otherTunnel.id));
    const filtered = await alice.json<TunnelJson[]>(['tunnel', 'ls', '--socket', socket.id, '--json']);
    assert.deepEqual(filtered.map((t) => t.id), [tunnel.id], 'tunnel ls --socket filters');

    // A tunnel of another socket is refused for --socket.
    assert.match(
      await alice.fails(['connect', '--socket', socket.id, '--tunnel', otherTunnel.id, '--port', String(origin.port), '--json']),
      new RegExp(`^error: tunnel ${otherTunnel.id} belongs to socket ${otherSocket.id}`),
    );

    const { proc, ready } = await startConnect('connect:wiki', ['--socket', socket.id, '--tunnel', tunnel.id, '--port', String(origin.port)]);
    served = { socketId: socket.id, tunnelId: tunnel.id };
    assert.equal(ready.url, socket.url, 'the ready line carries the socket URL');
    assert.equal(ready.socket_id, socket.id);
    assert.equal(ready.hostname, socket.hostname);

    const before = origin.requests.length;
    const res = await request({ port: edge.port, host: new URL(ready.url).host, path: '/hello' });
    assert.equal(res.status, 200);
    assert.equal(res.body.toString('utf8'), 'hello from origin');
    assert.equal(origin.requests.length, before + 1, 'the request reached the origin app');

    const connected = await pollUntil(
      async () => {
        const rows = await alice.json<TunnelJson[]>(['tunnel', 'ls', '--socket', socket.id, '--json']);
        return rows[0]?.status === 'connected' ? rows[0] : undefined;
      },
      { timeoutMs: 10_000, intervalMs: 250, what: 'tunnel ls to show the tunnel connected' },
    );
    assert.ok(connected.connections >= 1);
    const online = await alice.json<SocketJson>(['socket', 'show', socket.id, '--json']);
    assert.equal(online.online, true, 'socket show reports it online');

    assert.deepEqual(await alice.json(['tunnel', 'delete', tunnel.id, '--json']), { id: tunnel.id, deleted: true });
    const exit = await proc.waitExit(15_000);
    assert.notEqual(exit.code, 0, `connect exits non-zero when its tunnel is deleted\n${proc.output()}`);
    assert.equal(exit.signal, null);
    assert.deepEqual(nonEmpty(proc.stderrLines), ['error: the tunnel was deleted on the edge'], proc.output());
    assert.doesNotMatch(proc.stderrLines.join('\n'), /^\s+at /m);
    assert.deepEqual(
      (await alice.json<TunnelJson[]>(['tunnel', 'ls', '--json'])).filter((t) => t.id === tunnel.id),
      [],
      'the tunnel is gone',
    );
    await alice.json(['socket', 'delete', otherSocket.id, '--json']);
    // The socket itself stays (a tunnel is only an attachment point).
    assert.equal((await alice.json<SocketJson>(['socket', 'show', socket.id, '--json'])).id, socket.id);
  });

  it('deleting a socket ends the connects that serve it with one readable line', async () => {
    const socket = await alice.json<SocketJson>(['socket', 'create', '--name', 'to-delete', '--json']);
    const { proc } = await startConnect('connect:to-delete', ['--socket', socket.id, '--port', String(origin.port)]);
    await alice.json(['socket', 'delete', socket.id, '--json']);
    const exit = await proc.waitExit(15_000);
    assert.notEqual(exit.code, 0, proc.output());
    assert.deepEqual(nonEmpty(proc.stderrLines), ['error: the socket was deleted on the edge'], proc.output());
  });

  it('quick connect (underscore aliases) makes an ephemeral socket with the rules, removed on SIGINT; the ready line matches permanent connect', async () => {
    const before = await alice.json<SocketJson[]>(['socket', 'ls', '--json']);
    const { proc, ready } = await startConnect('connect:quick', [
      '--port',
      String(origin.port),
      '--name',
      'quick demo',
      '--cloudauth',
      '--allowed_email_domains',
      'example.com,partner.test',
      '--allowed_email_addresses=zoe@elsewhere.test',
    ]);
    quickSocketId = ready.socket_id;
    assert.deepEqual(ready.allowed_email_domains, ['example.com', 'partner.test']);
    assert.deepEqual(ready.allowed_email_addresses, ['zoe@elsewhere.test']);
    assert.equal(ready.cloudauth, true);
    assert.match(ready.hostname, /^quick-demo-[a-z0-9]+\.localhost$/);

    const during = await alice.json<SocketJson[]>(['socket', 'ls', '--json']);
    const quick = during.find((s) => s.id === ready.socket_id);
    assert.ok(quick, `socket ls shows the quick share: ${JSON.stringify(during)}`);
    assert.equal(quick.ephemeral, true);
    assert.equal(quick.name, 'quick demo');
    assert.deepEqual(quick.allowed_email_domains, ['example.com', 'partner.test']);
    assert.equal(quick.url, ready.url);
    assert.equal(during.length, before.length + 1);
    const tunnels = await alice.json<TunnelJson[]>(['tunnel', 'ls', '--socket', ready.socket_id, '--json']);
    assert.equal(tunnels.length, 1, 'the quick share has one (ephemeral) tunnel');

    // Sign-in is required: an anonymous request is sent to sign in, not to the app.
    const seen = origin.requests.length;
    const anonymous = await request({ port: edge.port, host: new URL(ready.url).host, path: '/hello' });
    assert.equal(anonymous.status, 401, 'a non-browser request without a session is refused');
    const browserLike = await request({ port: edge.port, host: new URL(ready.url).host, path: '/hello', headers: { accept: 'text/html' } });
    assert.equal(browserLike.status, 302, 'a browser is sent to sign in');
    assert.equal(origin.requests.length, seen, 'nothing reached the app');

    // Same ready line as a permanent connect: same keys.
    const permanent = await alice.json<SocketJson>(['socket', 'create', '--name', 'shape-check', '--json']);
    const tunnel = await alice.json<TunnelJson>(['tunnel', 'create', '--socket', permanent.id, '--json']);
    const perm = await startConnect('connect:shape', ['--socket', permanent.id, '--tunnel', tunnel.id, '--port', String(origin.port)]);
    assert.deepEqual(Object.keys(perm.ready).sort(), Object.keys(ready).sort(), 'permanent and quick connect print the same ready fields');
    assert.equal(perm.ready.event, 'ready');
    assert.equal((await perm.proc.stop('SIGINT', 10_000)).code, 0, perm.proc.output());
    await alice.json(['socket', 'delete', permanent.id, '--json']);

    const exit = await proc.stop('SIGINT', 10_000);
    assert.equal(exit.code, 0, `SIGINT stops a quick connect cleanly\n${proc.output()}`);
    const events = proc.stdoutLines.map((l) => parseJson<ConnectEvent>(l)).filter((e) => e !== undefined);
    assert.equal(events.at(-1)?.event, 'stopped', proc.output());
    const afterStop = await alice.json<SocketJson[]>(['socket', 'ls', '--json']);
    assert.ok(!afterStop.some((s) => s.id === ready.socket_id), 'the quick-share socket is gone after SIGINT');
    assert.deepEqual(afterStop.map((s) => s.id).sort(), before.map((s) => s.id).sort());
    assert.deepEqual(await alice.json(['tunnel', 'ls', '--socket', ready.socket_id, '--json']), [], 'its tunnel is gone too');
  });

  it('token create --expires / ls / revoke', async () => {
    const startedAt = Date.now();
    const created = await alice.json<{ token: string; id: string; name: string; expires_at: string | null }>([
      'token',
      'create',
      '--name',
      'ci-bot',
      '--expires',
      '30d',
      '--json',
    ]);
    assert.match(created.token, /^pst_/);
    assert.match(created.id, /^tok_/);
    assert.equal(created.name, 'ci-bot');
    assert.ok(created.expires_at, 'an expiry');
    const lifetime = Date.parse(created.expires_at) - startedAt;
    assert.ok(Math.abs(lifetime - 30 * 86_400_000) < 60_000, `expires in 30 days (${lifetime} ms)`);

    // Without --json, only the token is printed (scripts capture it).
    const plain = await alice.run(['token', 'create', '--name', 'plain']);
    assert.equal(plain.code, 0);
    assert.equal(nonEmpty(plain.stdout).length, 1);
    assert.match(nonEmpty(plain.stdout)[0]!, /^pst_\S+$/);

    // The new token works on its own.
    const bot = new CliUser(join(tmp.dir, 'bot'), { POSTERN_EDGE: edge.url, POSTERN_TOKEN: created.token });
    assert.equal((await bot.json<{ token: { id: string } }>(['whoami', '--json'])).token.id, created.id);

    const listed = await alice.json<TokenJson[]>(['token', 'ls', '--json']);
    const row = listed.find((t) => t.id === created.id);
    assert.ok(row, 'token ls lists it');
    assert.equal(row.name, 'ci-bot');
    assert.equal(row.expires_at, created.expires_at);
    assert.equal(row.revoked_at, null);
    assert.ok(!JSON.stringify(listed).includes(created.token), 'token ls never shows a secret');
    assert.equal(listed.filter((t) => t.current).length, 1, 'exactly one token is marked current');

    assert.deepEqual(await alice.json(['token', 'revoke', created.id, '--json']), { id: created.id, revoked: true });
    revokedTokenId = created.id;
    const after = (await alice.json<TokenJson[]>(['token', 'ls', '--json'])).find((t) => t.id === created.id);
    assert.ok(after?.revoked_at, 'token ls shows it revoked');
    assert.match(await bot.fails(['whoami', '--json']), /^error: .*revoked/);
  });

  it('audit --json: the events of the steps above, --socket filters, --since 1h and a future --since', async () => {
    assert.ok(served, 'the permanent-connect test ran');
    const { socketId, tunnelId } = served;
    const events = await alice.json<AuditJson[]>(['audit', '--limit', '1000', '--json']);
    assert.ok(Array.isArray(events));
    const of = (type: string, socket: string | null) => events.filter((e) => e.type === type && e.socket_id === socket);

    assert.equal(of('socket.create', socketId).length, 1, 'socket.create for the served socket');
    assert.equal(of('socket.create', socketId)[0]!.actor, 'alice@example.com');
    const tunnelCreate = of('tunnel.create', socketId);
    assert.equal(tunnelCreate.length, 1);
    assert.equal(tunnelCreate[0]!.detail.tunnel_id, tunnelId);
    const connects = of('tunnel.connect', socketId);
    assert.ok(connects.length >= 1, 'tunnel.connect');
    assert.ok(connects.every((e) => e.detail.tunnel_id === tunnelId));
    const disconnects = of('tunnel.disconnect', socketId);
    assert.equal(disconnects.length, connects.length, 'every connection was recorded as disconnected');
    assert.equal(of('tunnel.delete', socketId).length, 1);
    const revoke = events.filter((e) => e.type === 'token.revoke' && e.detail.token_id === revokedTokenId);
    assert.equal(revoke.length, 1, 'token.revoke for the revoked token');
    assert.equal(revoke[0]!.socket_id, null);
    assert.ok(quickSocketId);
    assert.equal(of('socket.create', quickSocketId).length, 1, 'the quick share was recorded');
    assert.equal(of('socket.delete', quickSocketId).length, 1, 'and its removal on exit');
    for (let i = 1; i < events.length; i++) assert.ok(events[i - 1]!.at >= events[i]!.at, 'newest first');

    const filtered = await alice.json<AuditJson[]>(['audit', '--socket', socketId, '--json']);
    assert.ok(filtered.length >= 4);
    assert.ok(filtered.every((e) => e.socket_id === socketId), '--socket keeps only that socket');
    for (const type of ['socket.create', 'tunnel.create', 'tunnel.connect', 'tunnel.disconnect', 'tunnel.delete']) {
      assert.ok(filtered.some((e) => e.type === type), `--socket keeps its ${type}`);
    }
    assert.ok(!filtered.some((e) => e.type === 'token.revoke'), '--socket drops events of other things');

    const recent = await alice.json<AuditJson[]>(['audit', '--since', '1h', '--limit', '1000', '--json']);
    assert.deepEqual(recent.map((e) => e.id), events.map((e) => e.id), '--since 1h covers everything this test did');
    const limited = await alice.json<AuditJson[]>(['audit', '--limit', '2', '--json']);
    assert.deepEqual(limited.map((e) => e.id), events.slice(0, 2).map((e) => e.id), '--limit 2: the two newest');
    assert.deepEqual(await alice.json(['audit', '--since', '2030-01-01T00:00:00Z', '--json']), [], 'nothing after 2030');
    const sinceIso = new Date(Date.parse(events[0]!.at)).toISOString();
    const newest = await alice.json<AuditJson[]>(['audit', '--since', sinceIso, '--json']);
    assert.ok(newest.length >= 1 && newest.every((e) => e.at >= sinceIso), '--since ISO is inclusive');
  });

  it('GET /api/v1/openapi.json is valid JSON listing the API paths', async () => {
    const res = await request({ port: edge.port, host: edge.domain, path: '/api/v1/openapi.json' });
    assert.equal(res.status, 200);
    assert.match(String(res.headers['content-type']), /application\/json/);
    const doc = JSON.parse(res.body.toString('utf8')) as { openapi: string; paths: Record<string, unknown> };
    assert.match(doc.openapi, /^3\./);
    const paths = Object.keys(doc.paths);
    for (const path of ['/sockets', '/tunnels', '/tokens', '/audit', '/device/code']) {
      assert.ok(
        paths.some((p) => p === path || p.endsWith(path)),
        `openapi.json lists ${path}: ${paths.join(', ')}`,
      );
    }
  });

  it('logout revokes the token on the edge: the API answers 401 TOKEN_REVOKED and the CLI says so in one line', async () => {
    const stored = JSON.parse(readFileSync(alice.credentialsFile, 'utf8')) as { token: string; token_id: string };
    const out = await alice.json<{ logged_out: boolean; revoked: boolean; token_id: string; email: string }>(['logout', '--json']);
    assert.equal(out.logged_out, true);
    assert.equal(out.revoked, true);
    assert.equal(out.token_id, stored.token_id);
    assert.equal(out.email, 'alice@example.com');
    assert.equal(existsSync(alice.credentialsFile), false, 'the credentials file is removed');

    const res = await api(edge, stored.token, 'GET', '/sockets');
    assert.equal(res.status, 401);
    assert.equal((res.json as { error: { code: string } }).error.code, 'TOKEN_REVOKED');

    const run = await alice.run(['socket', 'ls', '--json'], { POSTERN_EDGE: edge.url, POSTERN_TOKEN: stored.token });
    const line = assertOneErrorLine(['socket', 'ls', '--json'], run);
    assert.match(line, /revoked/);
    // Logged out now: commands say how to log in again, and a second logout is harmless.
    assert.match(await alice.fails(['socket', 'ls', '--json']), /^error: not logged in: run "postern login --edge URL"/);
    assert.deepEqual(await alice.json(['logout', '--json']), { logged_out: false, reason: 'not logged in' });
  });

  it("keeps the edge's state in a real SQLite file on disk", () => {
    assert.ok(existsSync(db), `${db} exists`);
    assert.ok(statSync(db).size > 0);
    const fd = openSync(db, 'r');
    try {
      const header = Buffer.alloc(16);
      readSync(fd, header, 0, 16, 0);
      assert.equal(header.toString('latin1'), 'SQLite format 3\0');
    } finally {
      closeSync(fd);
    }
  });
});
