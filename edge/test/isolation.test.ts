import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isSameOriginRequest } from '../src/auth/origin-check.js';
import { carriesPosternToken, posternBearerToken } from '../src/auth/postern-token.js';
import { resolveEdgeConfig } from '../src/config.js';
import { LimitReporter } from '../src/limits/reporter.js';
import type { TokenCheck } from '../src/store/tokens.js';
import { ConnectionGuard } from '../src/net/connection-guard.js';
import { maxConnectionsFor, openFileLimit } from '../src/net/fd-limit.js';
import { parentCookieDomains } from '../src/pages/cookie-overflow-page.js';
import { DEFAULT_FOREIGN_IDENTITY_HEADERS, headerNameMatcher } from '../src/proxy/foreign-identity.js';
import { downstreamResponseHeaders, hostOnlyCookie, upstreamRequestHeaders } from '../src/proxy/headers.js';
import { Store } from '../src/store/index.js';
import { ExpiredRowPruner } from '../src/store/pruner.js';
import { sqliteOf } from './support/sqlite.js';

const dir = mkdtempSync(join(tmpdir(), 'postern-isolation-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const fakeRequest = (headers: Record<string, string>, method = 'POST', raw: string[] = []): IncomingMessage =>
  ({ method, headers, rawHeaders: raw.length > 0 ? raw : Object.entries(headers).flat() }) as unknown as IncomingMessage;

test('same-origin requests: Origin must match exactly; without it only Sec-Fetch-Site same-origin, none or absent pass', async () => {
  const origin = 'https://app-x1.edge.example.com';
  const cases: Array<[Record<string, string>, boolean]> = [
    [{ origin }, true],
    [{ origin, 'sec-fetch-site': 'same-site' }, true],
    [{ origin: 'https://evil-x2.edge.example.com' }, false],
    [{ origin: `${origin}, https://evil-x2.edge.example.com` }, false],
    [{ origin: 'null' }, false],
    [{ origin: `${origin}/` }, false],
    [{ origin: 'http://app-x1.edge.example.com' }, false],
    [{}, true],
    [{ 'sec-fetch-site': 'same-origin' }, true],
    [{ 'sec-fetch-site': 'none' }, true],
    [{ 'sec-fetch-site': 'same-site' }, false],
    [{ 'sec-fetch-site': 'cross-site' }, false],
    [{ 'sec-fetch-site': 'same-origin, cross-site' }, false],
  ];
  for (const [headers, expected] of cases) assert.equal(isSameOriginRequest(fakeRequest(headers), origin), expected, JSON.stringify(headers));
});

test('a Postern token is taken in any spelling of the Bearer scheme and found in any other spelling', async () => {
  const token = `pst_${'a'.repeat(43)}`;
  for (const value of [`Bearer ${token}`, `bearer ${token}`, `BEARER ${token}`, `Bearer  ${token}`, `Bearer\t${token}`, ` Bearer ${token} `]) {
    assert.equal(posternBearerToken(value), token, JSON.stringify(value));
  }
  for (const value of [`Basic ${token}`, token, `Token ${token}`, `Bearer${token}`, 'Bearer other']) assert.equal(posternBearerToken(value), undefined, value);
  for (const value of [`Token ${token}`, token, `Bearer,${token}`, `x ${token.slice(0, 20)}`]) assert.ok(carriesPosternToken(value), value);
  assert.ok(!carriesPosternToken('Basic YWxpY2U6cHc='), 'an app credential is left alone');
});

test('Authorization carrying a Postern token never reaches the app, whatever else the request says', async () => {
  const token = `pst_${'b'.repeat(43)}`;
  const raw = ['Authorization', 'Basic YWxpY2U6cHc=', 'Authorization', `bearer  ${token}`, 'authorization', `Token ${token}`, 'Accept', '*/*'];
  const ctx = { reservedNames: headerNameMatcher([]), identity: [], stripAuthorization: false, clientIp: '203.0.113.9', proto: 'https' as const, publicHost: 'a.e', upstreamHost: 'a.e', requestId: 'r' };
  const out = upstreamRequestHeaders(fakeRequest({ authorization: 'Basic YWxpY2U6cHc=' }, 'GET', raw), ctx);
  assert.deepEqual(out.slice(0, 4), ['Authorization', 'Basic YWxpY2U6cHc=', 'Accept', '*/*']);
});

test("other proxies' identity headers are stripped in every spelling, prefixes included", async () => {
  const matcher = headerNameMatcher(DEFAULT_FOREIGN_IDENTITY_HEADERS);
  const raw = [
    'Remote-User', 'admin', 'X-WEBAUTH-USER', 'admin', 'x_webauth_email', 'a@b', 'X-Auth-Request-Email', 'a@b', 'Cf-Access-Authenticated-User-Email', 'a@b',
    'X-Pomerium-Claim-Email', 'a@b', 'X-Pomerium-Jwt-Assertion', 'x', 'Tailscale-User-Login', 'a', 'X-Goog-Authenticated-User-Email', 'a', 'X-Kept', '1',
  ];
  const ctx = { reservedNames: matcher, identity: [], stripAuthorization: false, clientIp: '203.0.113.9', proto: 'https' as const, publicHost: 'a.e', upstreamHost: 'a.e', requestId: 'r' };
  const out = upstreamRequestHeaders(fakeRequest({}, 'GET', raw), ctx);
  assert.deepEqual(out.slice(0, 2), ['X-Kept', '1']);
  assert.equal(out.length, 2 + 10, 'only the kept header and the five the edge sets');
});

test('foreign identity headers: configurable, "default" extends the built-in list, "none" empties it, bad names refused', async () => {
  assert.deepEqual(resolveEdgeConfig({}).foreignIdentityHeaders, DEFAULT_FOREIGN_IDENTITY_HEADERS);
  assert.deepEqual(resolveEdgeConfig({ foreignIdentityHeaders: 'X_Corp_User, x-team-*' }).foreignIdentityHeaders, ['x-corp-user', 'x-team-*']);
  assert.deepEqual(resolveEdgeConfig({ foreignIdentityHeaders: 'default,X-Corp-User' }).foreignIdentityHeaders, [...DEFAULT_FOREIGN_IDENTITY_HEADERS, 'x-corp-user']);
  assert.deepEqual(resolveEdgeConfig({ foreignIdentityHeaders: 'none' }).foreignIdentityHeaders, []);
  assert.throws(() => resolveEdgeConfig({ foreignIdentityHeaders: 'X-Ok,bad header' }), /--foreign-identity-headers must list header names/);
  for (const name of ['remote-user', 'x-webauth-user', 'x-auth-request-email', 'cf-access-authenticated-user-email', 'x-pomerium-jwt-assertion']) {
    assert.ok(headerNameMatcher(DEFAULT_FOREIGN_IDENTITY_HEADERS).has(name), name);
  }
});

test("an app's Set-Cookie is made host-only; Clear-Site-Data, Postern-Error and headers naming edge cookies are dropped", async () => {
  assert.equal(hostOnlyCookie('a=1; Domain=edge.example.com; Path=/; Secure'), 'a=1; Path=/; Secure');
  assert.equal(hostOnlyCookie('a=1;domain=.edge.example.com;DOMAIN = x;Path=/'), 'a=1;Path=/');
  assert.equal(hostOnlyCookie('a=domain=x; Max-Age=5'), 'a=domain=x; Max-Age=5', 'a value that says domain= is left alone');
  const out = downstreamResponseHeaders([
    'set-cookie', 'bomb=xxxx; Domain=edge.example.com; Path=/; Max-Age=31536000',
    'set-cookie', 'pref=dark; Path=/',
    'set-cookie', 'postern_session=x; Domain=edge.example.com',
    'clear-site-data', '"cookies"',
    'postern-error', 'POLICY_DENIED',
    'set-cookie2', 'a=1',
    'x-debug', 'cleared __Host-postern_login for you',
    'content-type', 'text/html',
  ]);
  assert.deepEqual(out, ['set-cookie', 'bomb=xxxx; Path=/; Max-Age=31536000', 'set-cookie', 'pref=dark; Path=/', 'content-type', 'text/html']);
});

test('the 431 page clears the edge domain and every name above it, never a public suffix alone', async () => {
  assert.deepEqual(parentCookieDomains('edge.example.com:8443'), ['edge.example.com', 'example.com']);
  assert.deepEqual(parentCookieDomains('localhost:8080'), []);
});

test('max connections: the open-file limit less a reserve, so the process keeps descriptors for itself', async () => {
  assert.equal(maxConnectionsFor(1024), 768);
  assert.equal(maxConnectionsFor(20_000), 18_000);
  assert.equal(maxConnectionsFor(undefined), 65_536);
  const limits = join(dir, 'limits');
  writeFileSync(limits, 'Limit                     Soft Limit           Hard Limit           Units     \nMax open files            4096                 8192                 files     \n');
  assert.equal(openFileLimit(limits), 4096);
  assert.equal(openFileLimit(join(dir, 'missing')), undefined);
});

test('pruning: expired, idle and revoked sessions, expired transactions and codes go; live rows stay (table sizes measured)', async () => {
  const store = await Store.open(join(dir, 'prune.db'));
  const now = Date.now();
  const user = await store.users.upsert({ issuer: 'i', subject: 's', email: 'a@example.com', name: null, groups: [], githubOrgs: [], githubTeams: [] });
  const { account } = await store.accounts.ensure('owner@example.com');
  const socket = await store.sockets.create({ accountId: account.id, name: 'app' });
  const idleMs = 8 * 3600_000;
  for (let i = 0; i < 1000; i++) {
    const live = await store.sessions.create(`live-${i}`, { userId: user.id, socketId: null, parentHash: null, expiresAt: now + 3600_000 });
    await store.sessions.create(`expired-${i}`, { userId: user.id, socketId: socket.id, parentHash: live.idHash, expiresAt: now - 1 });
    await store.transactions.create(`tx-old-${i}`, { provider: 'local', secrets: {}, returnTo: '/' }, -60_000);
    await store.sessions.createCode(`code-live-${i}`, { parentHash: live.idHash, socketId: socket.id, returnPath: '/', expiresAt: now + 60_000 });
  }
  const revoked = await store.sessions.create('revoked', { userId: user.id, socketId: null, parentHash: null, expiresAt: now + 3600_000 });
  await store.sessions.revokeTree(revoked.idHash);
  const idle = await store.sessions.create('idle', { userId: user.id, socketId: null, parentHash: null, expiresAt: now + 48 * 3600_000 });
  await store.sessions.touch([idle.idHash], now - idleMs - 10 * 60_000);
  await store.transactions.create('tx-live', { provider: 'local', secrets: {}, returnTo: '/' }, 600_000);
  const count = (table: string) => (sqliteOf(store).prepare(`SELECT COUNT(*) AS n FROM ${table}`).get() as { n: number }).n;
  assert.equal(count('sessions'), 2002);
  const pruned = await new ExpiredRowPruner(store.sql, idleMs).prune(now);
  assert.equal(pruned.sessions, 1002, 'expired, revoked and idle sessions');
  assert.equal(count('sessions'), 1000, 'the live ones stay');
  assert.equal(count('login_transactions'), 1, 'only the live transaction');
  assert.equal(count('handoff_codes'), 1000, 'live codes stay');
  assert.equal((await new ExpiredRowPruner(store.sql, idleMs).prune(now + 61_000)).handoffCodes, 1000, 'codes go once expired');
  await store.close();
});

test('connection guard: a per-address cap and a first-byte timeout, each counted', async () => {
  const hits: string[] = [];
  const reporter = new LimitReporter({ warn: () => undefined }, Date.now, (limit) => hits.push(limit));
  const server = createServer((_req, res) => res.end('ok'));
  new ConnectionGuard({ maxConnectionsPerAddress: 3, firstByteTimeoutMs: 300, maxConnections: 100 }, { isTrusted: () => false }, () => reporter).attach(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  const closedAt = (socket: ReturnType<typeof connect>) => new Promise<number>((resolve) => socket.on('close', () => resolve(Date.now())));
  try {
    const opened = Date.now();
    const sockets = Array.from({ length: 5 }, () => connect(port, '127.0.0.1'));
    sockets.forEach((s) => s.on('error', () => undefined));
    const closes = sockets.map(closedAt);
    const times = await Promise.all(closes);
    assert.equal(hits.filter((h) => h === 'connections_per_address').length, 2, 'two over the cap of 3');
    assert.equal(hits.filter((h) => h === 'first_byte_timeout').length, 3, 'the three admitted ones sent nothing');
    assert.ok(times.every((t) => t - opened < 3_000), 'all closed well before the header timeout');
    // A connection that speaks is not cut.
    const talker = connect(port, '127.0.0.1');
    const answer = await new Promise<string>((resolve) => {
      talker.on('data', (d) => resolve(d.toString()));
      setTimeout(() => talker.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), 50);
    });
    assert.match(answer, /^HTTP\/1\.1 200/);
    await new Promise((r) => setTimeout(r, 400));
    assert.ok(!talker.destroyed, 'still open after the first-byte timeout');
    talker.destroy();
  } finally {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

test('tunnel token sweep: an expired, revoked or deleted token ends its tunnels with a reason that fits a close frame', async () => {
  const { TunnelCredentialSweep } = await import('../src/auth/tunnel-credentials.js');
  const conn = (id: string, tokenId: string) => ({ info: { id, tokenId, socketId: 'sck_x' }, session: { closed: false } });
  const now = Date.UTC(2026, 11, 1, 12, 0, 0);
  const token = (expiresAt: number | null, revokedAt: number | null) => ({ id: 'tok', expiresAt, revokedAt }) as never;
  const checks: Record<string, TokenCheck> = {
    live: { ok: true, token: token(now + 60_000, null) },
    expired: { ok: false, reason: 'expired', token: token(now - 1_000, null) },
    revoked: { ok: false, reason: 'revoked', token: token(null, now - 5_000) },
    gone: { ok: false, reason: 'unknown' },
  };
  const registry = { all: () => [conn('c1', 'live'), conn('c2', 'expired'), conn('c3', 'expired'), conn('c4', 'revoked'), conn('c5', 'gone')] };
  const ended: Array<{ tokenId: string; reason: string }> = [];
  const quiet = { info: () => undefined, warn: () => undefined };
  const sweep = new TunnelCredentialSweep(registry as never, { checkById: async (id: string) => checks[id]! }, async (tokenId, reason) => void ended.push({ tokenId, reason }), quiet, 60_000);
  try {
    await sweep.sweep(now);
  } finally {
    sweep.stop();
  }
  assert.deepEqual(ended.map((e) => e.tokenId), ['expired', 'revoked', 'gone'], 'once per token, live ones kept');
  assert.ok(ended.every((e) => Buffer.byteLength(e.reason) <= 123), JSON.stringify(ended));
  assert.match(ended[0]!.reason, /^this Postern token expired on 2026-12-01T11:59:59\.000Z: run "postern login" for a new one$/);
});
