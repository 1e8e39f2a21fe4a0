import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { assertOneErrorLine, describeRun, nonEmpty } from './lib/cli-user.js';
import { closeOf, nextMessage, openWebSocket, request } from './lib/http.js';
import { IdentityApp } from './lib/identity-app.js';
import { api, CLI, cleanEnv, REPO_ROOT, ConnectorProcess, createAccount, EdgeProcess, makeTempDir, parseJson, runCli, type SocketView } from './lib/postern.js';
import { killAll, ManagedProcess } from './lib/process.js';
import { openConnection, startEchoServer } from './lib/tcp.js';
import { pollUntil, withTimeout } from './lib/wait.js';

/** The wiki's policy: a public webhook, /admin for alice only, /internal only from the office network, @example.com for the rest. */
const WIKI_RULES = [
  { paths: ['/webhook'], methods: ['POST'], action: 'public' },
  { paths: ['/admin/*'], action: 'allow', emails: ['alice@example.com'] },
  { paths: ['/admin/*'], action: 'deny' },
  { paths: ['/internal/*'], action: 'deny', not_ip_cidrs: ['10.0.0.0/8'] },
];
const WIKI_POLICY = { rules: WIKI_RULES, cloudauth: true, allowed_email_domains: ['example.com'] };

/**
 * Policy as data end to end: ordered rules on paths and methods, CIDR rules behind a trusted
 * proxy, rules that expire while a WebSocket and a TCP stream are open, policy test and diff on
 * real audit rows, apply/export, and the Pomerium import.
 */
describe('policy: ordered rules, explain and dry-run, policy files', () => {
  const tmp = makeTempDir('policy');
  let edge: EdgeProcess;
  let app: IdentityApp;
  let echo: Awaited<ReturnType<typeof startEchoServer>>;
  const tokens: Record<string, string> = {};
  let wiki: SocketView;
  let shell: SocketView;
  let host: string;

  const as = (who: string) => ({ POSTERN_EDGE: edge.url, POSTERN_TOKEN: tokens[who]! });
  const cli = (who: string, args: string[]) => runCli(args, as(who), 45_000);
  const get = (who: string | null, path: string, headers: Record<string, string> = {}, method = 'GET', localAddress?: string) =>
    request({
      port: edge.port,
      host,
      method,
      path,
      headers: { accept: 'application/json', ...(who ? { authorization: `Bearer ${tokens[who]}` } : {}), ...headers },
      ...(localAddress ? { localAddress } : {}),
    });
  const errorOf = (body: Buffer) => (JSON.parse(body.toString()) as { error: { code: string; message: string } }).error;
  const setPolicy = async (socket: SocketView, policy: object) => {
    const res = await api(edge, tokens.alice!, 'PATCH', `/sockets/${socket.id}`, policy);
    assert.equal(res.status, 200, JSON.stringify(res.json));
  };

  before(async () => {
    const db = join(tmp.dir, 'edge.db');
    for (const email of ['alice@example.com', 'bob@example.com', 'carol@contractor.test', 'dave@example.com', 'erin@example.com']) {
      tokens[email.split('@')[0]!] = await createAccount(db, email);
    }
    edge = await EdgeProcess.start({ db, extraArgs: ['--trusted-proxy', '127.0.0.1'] });
    app = await IdentityApp.start('wiki');
    echo = await startEchoServer();
    const created = await api(edge, tokens.alice!, 'POST', '/sockets', { name: 'wiki', ...WIKI_POLICY });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    wiki = created.json as SocketView;
    host = new URL(wiki.url).host;
    const tcp = await api(edge, tokens.alice!, 'POST', '/sockets', { name: 'shell', protocol: 'tcp', rules: [{ action: 'deny', emails: ['bob@example.com'] }], allowed_email_domains: ['example.com'] });
    assert.equal(tcp.status, 201, JSON.stringify(tcp.json));
    shell = tcp.json as SocketView;
    await Promise.all([
      ConnectorProcess.startServing({ edge, token: tokens.alice!, appPort: app.port, socket: wiki, label: 'connect:wiki' }),
      ConnectorProcess.startServing({ edge, token: tokens.alice!, appPort: echo.port, socket: shell, label: 'connect:shell' }),
    ]);
  });

  after(async () => {
    await killAll();
    await Promise.all([app?.close(), echo?.close()]);
    tmp.remove();
  });

  it('a webhook path is public while the rest needs sign-in', async () => {
    const before = app.requests.length;
    const hook = await get(null, '/webhook', { 'x-auth-email': 'alice@example.com' }, 'POST');
    assert.equal(hook.status, 200, hook.body.toString());
    const seen = app.last('/webhook');
    assert.equal(seen.headers['x-auth-email'], undefined, 'a public rule sends no identity, and a forged one is stripped');
    assert.equal(seen.headers['x-postern-assertion'], undefined);
    // Decoded once, as the app decodes it: the same path, delivered exactly as sent.
    assert.equal((await get(null, '/%77ebhook', {}, 'POST')).status, 200);
    assert.equal(app.last('/%77ebhook').url, '/%77ebhook');

    assert.equal((await get(null, '/webhook')).status, 401, 'GET is not in the rule');
    assert.equal((await get(null, '/webhook/x', {}, 'POST')).status, 401, 'an exact path is exact');
    const page = await get(null, '/', { accept: 'text/html' });
    assert.equal(page.status, 302);
    assert.match(String(page.headers.location), /\/auth\/login\?rd=/);
    for (const ambiguous of ['//webhook', '/x/../webhook', '/webhook;x', '/%2fwebhook']) {
      const res = await get(null, ambiguous, {}, 'POST');
      assert.equal(res.status, 400, `${ambiguous}: ${res.body}`);
      assert.match(errorOf(res.body).message, /access rules match on paths/);
    }
    assert.equal(app.requests.length, before + 2, 'only the two public requests reached the app');

    const signedIn = await get('bob', '/headers');
    assert.equal(signedIn.status, 200);
    assert.equal(app.last('/headers').headers['x-auth-email'], 'bob@example.com');
  });

  it('/admin is denied to a user the rest allows; the 403, the audit log and policy test say the same words', async () => {
    const before = app.requestsTo('/admin').length;
    assert.equal((await get('alice', '/admin/users')).status, 200);
    const denied = await get('bob', '/admin/users');
    assert.equal(denied.status, 403);
    const reason = errorOf(denied.body).message;
    assert.equal(reason, 'rules[2] (deny everyone on /admin/*) denies bob@example.com');
    for (const spelling of ['/admin', '/%61dmin/users', '/admin/']) assert.equal((await get('bob', spelling)).status, 403, spelling);
    for (const spelling of ['/x/../admin/users', '//admin/users', '/admin%2fusers', '/admin;x/users']) assert.equal((await get('bob', spelling)).status, 400, spelling);
    assert.equal(app.requestsTo('/admin').length, before + 1, "only alice's request reached the app");
    assert.equal((await get('bob', '/reports')).status, 200, 'the rest of the app is open to bob');

    const html = await get('bob', '/admin/users', { accept: 'text/html' });
    assert.equal(html.status, 403);
    assert.ok(html.body.toString().includes(reason), 'the 403 page gives the same reason');
    const audit = await api(edge, tokens.alice!, 'GET', `/audit?socket=${wiki.id}&limit=100`);
    const row = (audit.json as { type: string; actor: string; detail: Record<string, unknown> }[]).find(
      (e) => e.type === 'access.denied' && e.actor === 'bob@example.com' && e.detail.path === '/admin/users',
    );
    assert.equal(row?.detail.reason, reason, 'the audit log gives the same reason');
    assert.deepEqual([row?.detail.path, row?.detail.method, row?.detail.rule], ['/admin/users', 'GET', 2]);

    const args = ['policy', 'test', '--socket', 'wiki', '--email', 'bob@example.com', '--path', '/admin/users', '--json'];
    const run = await cli('alice', args);
    assert.equal(run.code, 0, describeRun(args, run));
    assert.deepEqual(JSON.parse(run.stdout.join('')), {
      allow: false,
      rule: 2,
      reason,
      identity: { email: 'bob@example.com', groups: [], github_orgs: [], github_teams: [], from: 'the email alone (never signed in here)' },
    });
    const human = await cli('alice', ['policy', 'test', '--socket', wiki.hostname, '--path', '/webhook', '--method', 'POST']);
    assert.equal(nonEmpty(human.stdout)[0], 'allowed: rules[0] (public on POST /webhook) lets anyone in without sign-in', describeRun(['policy', 'test'], human));
  });

  it('a CIDR rule is honoured through --trusted-proxy, and only from the trusted proxy', async () => {
    assert.equal((await get('bob', '/internal/x', { 'x-forwarded-for': '10.1.2.3' })).status, 200, 'from the office, through the trusted proxy');
    const outside = await get('bob', '/internal/x', { 'x-forwarded-for': '203.0.113.9' });
    assert.equal(outside.status, 403);
    assert.equal(errorOf(outside.body).message, 'rules[3] (deny everyone on /internal/* not from 10.0.0.0/8) denies bob@example.com');
    // 127.0.0.2 is not a trusted proxy: its X-Forwarded-For counts for nothing, its own address decides.
    assert.equal((await get('bob', '/internal/x', { 'x-forwarded-for': '10.1.2.3' }, 'GET', '127.0.0.2')).status, 403);
    assert.equal((await get('bob', '/elsewhere', { 'x-forwarded-for': '203.0.113.9' })).status, 200, 'the rule covers /internal only');
  });

  it('a TCP socket goes through the same evaluator', async () => {
    const bob = await runCli(['tcp', '--socket', shell.hostname, '--listen', '0'], as('bob'), 45_000);
    assert.equal(bob.code, 1, describeRun(['tcp'], bob));
    assert.match(bob.stderr.join('\n'), /bob@example\.com may not use .*rules\[0\] \(deny bob@example\.com\) denies bob@example\.com/);
    const test = await cli('alice', ['policy', 'test', '--socket', 'shell', '--email', 'dave@example.com', '--json']);
    assert.deepEqual(JSON.parse(test.stdout.join('')).allow, true, describeRun(['policy', 'test'], test));
  });

  it('an expiring rule cuts the open WebSocket and TCP stream it let in, within 15 s of expiry', async () => {
    const expiresAt = Date.now() + 6_000;
    const expires = new Date(expiresAt).toISOString();
    const contractor = { action: 'allow', emails: ['carol@contractor.test'], expires };
    await Promise.all([setPolicy(wiki, { ...WIKI_POLICY, rules: [...WIKI_RULES, contractor] }), setPolicy(shell, { rules: [contractor] })]);

    const ws = await openWebSocket(edge.port, host, '/ws', { authorization: `Bearer ${tokens.carol}` });
    ws.send('before expiry');
    assert.equal((await nextMessage(ws)).data.toString(), 'before expiry');
    const wsClosed = closeOf(ws, 30_000).then(() => Date.now());

    const listener = new ManagedProcess('tcp:carol', process.execPath, [CLI, 'tcp', '--socket', shell.hostname, '--listen', '127.0.0.1:0', '--json'], cleanEnv(as('carol')));
    const line = await listener.waitForLine((l, stream) => stream === 'stdout' && parseJson<{ event: string }>(l)?.event === 'listening', 30_000, 'the listening line');
    const address = String(parseJson<{ address: string }>(line)!.address);
    const tcp = await openConnection(Number(address.slice(address.lastIndexOf(':') + 1)));
    tcp.socket.write('ping');
    await pollUntil(async () => (Buffer.concat(tcp.received).toString() === 'ping' ? true : undefined), { timeoutMs: 20_000, intervalMs: 50, what: 'the echo over TCP' });
    const tcpClosed = withTimeout(tcp.closed, 30_000, 'the TCP stream to close').then(() => Date.now());

    const [wsAt, tcpAt] = await Promise.all([wsClosed, tcpClosed]);
    for (const [what, at] of [['WebSocket', wsAt], ['TCP stream', tcpAt]] as const) {
      assert.ok(at >= expiresAt, `${what} stayed open until the rule expired (closed ${expiresAt - at} ms early)`);
      assert.ok(at - expiresAt <= 15_000, `${what} closed ${at - expiresAt} ms after expiry`);
    }
    await assert.rejects(openWebSocket(edge.port, host, '/ws', { authorization: `Bearer ${tokens.carol}` }), /HTTP 403/);
    const audit = await api(edge, tokens.alice!, 'GET', `/audit?socket=${wiki.id}&limit=50`);
    assert.ok((audit.json as { detail: Record<string, unknown> }[]).some((e) => e.detail.stream_closed === true), 'the cut is audited');
    await listener.stop('SIGTERM', 10_000);
    await setPolicy(wiki, WIKI_POLICY);
  });

  it('policy diff names the users a narrowed rule would lock out, from real audit rows, and the open streams it would cut', async () => {
    for (const who of ['alice', 'bob']) assert.equal((await get(who, '/reports/q4')).status, 200);
    const bobsSocket = await openWebSocket(edge.port, host, '/ws', { authorization: `Bearer ${tokens.bob}` });
    const narrowed = join(tmp.dir, 'narrowed.yaml');
    writeFileSync(
      narrowed,
      `sockets:
  - name: wiki
    cloudauth: true
    allowed_email_domains: [example.com]
    rules:
      - {paths: [/webhook], methods: [POST], action: public}
      - {paths: [/reports/*, /ws], action: allow, emails: [alice@example.com]}
      - {paths: [/reports/*, /ws], action: deny}
`,
    );
    const args = ['policy', 'diff', '--socket', 'wiki', '--file', narrowed, '--since', '1h', '--json'];
    const run = await cli('alice', args);
    assert.equal(run.code, 0, describeRun(args, run));
    const diff = JSON.parse(run.stdout.join('')) as { lose: { actor: string; path: string; after: { reason: string } }[]; gain: { actor: string; path: string }[]; streams_cut: { actor: string; path: string; kind: string }[]; replayed: number };
    const lost = diff.lose.map((c) => `${c.actor} ${c.path}`);
    assert.ok(lost.includes('bob@example.com /reports/q4'), lost.join(', '));
    assert.ok(!lost.some((l) => l.startsWith('alice@')), 'alice keeps her access');
    assert.ok(lost.every((l) => l.startsWith('bob@')), lost.join(', '));
    assert.match(diff.lose.find((c) => c.path === '/reports/q4')!.after.reason, /^rules\[2\] \(deny everyone on \/reports\/\*, \/ws\) denies bob@example\.com$/);
    // The narrowed file drops the /admin rules: bob's denied /admin requests would now be let in.
    assert.ok(diff.gain.some((c) => c.actor === 'bob@example.com' && c.path === '/admin/users'), JSON.stringify(diff.gain));
    assert.deepEqual(diff.streams_cut.map((s) => `${s.kind} ${s.actor} ${s.path}`), ['websocket bob@example.com /ws']);

    const human = await cli('alice', ['policy', 'diff', '--socket', 'wiki', '--file', narrowed, '--since', '1h']);
    assert.match(human.stdout.join('\n'), /would lose access \(\d+\):\n[\s\S]*^ {2}bob@example\.com {2}GET \/reports\/q4 {2}1×/m);
    // Nothing changed: bob still reads the reports, his WebSocket is still open.
    assert.equal((await get('bob', '/reports/q4')).status, 200);
    bobsSocket.send('still here');
    assert.equal((await nextMessage(bobsSocket)).data.toString(), 'still here');
    bobsSocket.close();
  });

  it('apply is idempotent, --dry-run changes nothing, export writes what apply reads, --prune removes the rest', async () => {
    const file = join(tmp.dir, 'dave.yaml');
    writeFileSync(
      file,
      `sockets:
  - name: blog
    to: http://127.0.0.1:8080
    cloudauth: true
    allowed_email_domains: [example.com]
    rules:
      - {paths: [/healthz], action: public}
  - name: db
    to: tcp://127.0.0.1:5432
    allowed_email_addresses: [erin@example.com]
`,
    );
    const list = async () => ((await api(edge, tokens.dave!, 'GET', '/sockets')).json as SocketView[]).map((s) => s.name).sort();

    const dry = await cli('dave', ['apply', '-f', file, '--dry-run']);
    assert.equal(dry.code, 0, describeRun(['apply'], dry));
    assert.match(dry.stdout.join('\n'), /\+ create blog[\s\S]*\+ rules\[0\]: public on \/healthz[\s\S]*\+ create db/);
    assert.deepEqual(await list(), [], '--dry-run created nothing');

    const applied = await cli('dave', ['apply', '-f', file, '--json']);
    assert.equal(applied.code, 0, describeRun(['apply'], applied));
    assert.deepEqual((JSON.parse(applied.stdout.join('')) as { changes: { op: string; name: string }[] }).changes.map((c) => `${c.op} ${c.name}`), ['create blog', 'create db']);
    assert.deepEqual(await list(), ['blog', 'db']);
    const blog = ((await api(edge, tokens.dave!, 'GET', '/sockets')).json as (SocketView & { policy_revision: number })[]).find((s) => s.name === 'blog')!;

    const again = await cli('dave', ['apply', '-f', file]);
    assert.match(again.stdout.join('\n'), /nothing to change: the edge matches the file/, describeRun(['apply'], again));
    const exported = join(tmp.dir, 'exported.yaml');
    assert.equal((await cli('dave', ['export', '-o', exported])).code, 0);
    const roundTrip = await cli('dave', ['apply', '-f', exported, '--prune', '--dry-run', '--json']);
    assert.deepEqual(JSON.parse(roundTrip.stdout.join('')).changes, [], describeRun(['apply'], roundTrip));
    const after = ((await api(edge, tokens.dave!, 'GET', '/sockets')).json as (SocketView & { policy_revision: number })[]).find((s) => s.name === 'blog')!;
    assert.equal(after.policy_revision, blog.policy_revision, 'applying the same file twice did not touch the policy');

    writeFileSync(file, 'sockets:\n  - name: blog\n    cloudauth: true\n    allowed_email_domains: [example.com]\n    rules:\n      - {paths: [/healthz], action: public}\n');
    const prune = await cli('dave', ['apply', '-f', file, '--prune']);
    assert.match(prune.stdout.join('\n'), /- delete db[\s\S]*deleted db/, describeRun(['apply'], prune));
    assert.deepEqual(await list(), ['blog']);

    const bad = join(tmp.dir, 'bad.yaml');
    writeFileSync(bad, 'sockets:\n  - name: blog\n    rules:\n      - paths: [/x]\n        action: maybe\n');
    const badArgs = ['apply', '-f', bad];
    assert.equal(assertOneErrorLine(badArgs, await cli('dave', badArgs)), `error: ${bad}:5:9: sockets[0].rules[0].action: must be one of public, allow, deny`);
  });

  it('the Pomerium policy from the seeds imports, and what cannot map is reported', async () => {
    // The seeds' home-lab policy (and one route that cannot map whole), shared with the unit tests.
    const seed = join(REPO_ROOT, 'shared', 'test', 'fixtures', 'pomerium-home-lab.yaml');
    const dry = await cli('erin', ['apply', '--from-pomerium', seed, '--dry-run', '--json']);
    assert.equal(dry.code, 0, describeRun(['apply'], dry));
    const plan = JSON.parse(dry.stdout.join('')) as { changes: { op: string; name: string }[]; not_mapped: string[] };
    assert.deepEqual(plan.changes.map((c) => `${c.op} ${c.name}`), ['create app1', 'create app2', 'create httpbin']);
    assert.deepEqual(plan.not_mapped, [`${seed}:13: routes[2] (https://httpbin.dev.example.com): to: not mapped: "https://httpbin.org" is https; the connector speaks plain HTTP to its target (set to: http://… by hand)`]);

    const applied = await cli('erin', ['apply', '--from-pomerium', seed]);
    assert.equal(applied.code, 0, describeRun(['apply'], applied));
    assert.match(applied.stderr.join('\n'), /to: not mapped/);
    const sockets = (await api(edge, tokens.erin!, 'GET', '/sockets')).json as (SocketView & { allowed_email_addresses: string[]; allowed_email_domains: string[]; cloudauth: boolean })[];
    assert.deepEqual(
      sockets.map((s) => [s.name, s.cloudauth, s.allowed_email_addresses, s.allowed_email_domains]),
      [
        ['app1', true, ['user1@azuread.domain'], []],
        ['app2', true, ['user2@azuread.domain'], []],
        ['httpbin', true, [], ['example.com']],
      ],
    );
    const converted = join(tmp.dir, 'converted.yaml');
    assert.equal((await cli('erin', ['export', '--from-pomerium', seed, '-o', converted])).code, 0);
    const again = await cli('erin', ['apply', '-f', converted, '--json']);
    assert.deepEqual(JSON.parse(again.stdout.join('')).changes, [], 'the converted file describes what was applied');
  });
});
