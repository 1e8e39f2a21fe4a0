import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { TcpCloseCode } from '@postern/shared';
import Database from 'better-sqlite3';
import { generateKeyPair, SignJWT, UnsecuredJWT, type CryptoKey, type JWTPayload } from 'jose';
import type WebSocket from 'ws';
import { closeOf, nextMessage, openWebSocket, request } from './lib/http.js';
import { IdentityApp } from './lib/identity-app.js';
import { IDP_CLIENT_ID, IDP_CLIENT_SECRET, startEdgeWithIdp, type IdpAccount, type TestIdp } from './lib/idp.js';
import { api, ConnectorProcess, createAccount, makeTempDir, type EdgeProcess, type SocketView } from './lib/postern.js';
import { killAll } from './lib/process.js';
import { startEchoServer } from './lib/tcp.js';
import { pollUntil } from './lib/wait.js';
import { WebClient } from './lib/web-client.js';

/** Short, so a test sees a re-validation; the IdP answers at once (it runs in this process). */
const PERIOD_MS = 3_000;
/** One period, plus the scheduler's tick (a quarter period) and time for the refresh round trip on a loaded machine. */
const WITHIN_ONE_PERIOD_MS = PERIOD_MS + PERIOD_MS / 4 + 3_000;
const DEV = 'banzaicloud:dev';
const LOGOUT_EVENT = { 'http://schemas.openid.net/event/backchannel-logout': {} };

const person = (email: string, groups: readonly string[] = [DEV]): IdpAccount => ({ email, email_verified: true, name: email.split('@')[0]!, groups });

/**
 * Sessions follow the IdP, against a real oidc-provider shaped like dex (groups only with the
 * `groups` scope, refresh tokens with offline_access, back-channel logout with `sid`): re-validation
 * every --session-revalidate (3 s here), OIDC Back-Channel Logout 1.0 and RP-initiated logout.
 */
describe('sessions follow the IdP: re-validation, back-channel logout, RP-initiated logout', () => {
  const tmp = makeTempDir('identity-sessions');
  const db = () => `${tmp.dir}/edge.db`;
  let edge: EdgeProcess;
  let idp: TestIdp;
  let app: IdentityApp;
  let echo: Awaited<ReturnType<typeof startEchoServer>>;
  let owner: string;
  /** Prometheus-like: only the dex group banzaicloud:dev (the seed's allowed_groups). */
  let prom: ConnectorProcess;
  let tcpSocket: SocketView;

  before(async () => {
    owner = await createAccount(db(), 'owner@corp.example');
    ({ edge, idp } = await startEdgeWithIdp({
      db: db(),
      dir: tmp.dir,
      name: 'dex',
      shape: { groupsScope: true, refreshTokens: true },
      logoutUris: true,
      accounts: {
        dana: person('dana@corp.example'),
        erin: person('erin@corp.example'),
        fay: person('fay@corp.example'),
        gus: person('gus@corp.example'),
        hal: person('hal@corp.example'),
        ivy: person('ivy@corp.example'),
      },
      extraArgs: ['--oidc-scopes', 'groups offline_access', '--oidc-rp-logout', '--session-revalidate', `${PERIOD_MS / 1000}s`],
    }));
    app = await IdentityApp.start('prometheus');
    echo = await startEchoServer();
    prom = await ConnectorProcess.start({ edge, token: owner, appPort: app.port, label: 'connect:prom', args: ['--name', 'prom', '--allowed-groups', DEV] });
    const created = await api(edge, owner, 'POST', '/sockets', { name: 'pg', protocol: 'tcp', ephemeral: false, allowed_groups: [DEV] });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    tcpSocket = created.json as SocketView;
    await ConnectorProcess.startServing({ edge, token: owner, appPort: echo.port, socket: tcpSocket, label: 'connect:pg' });
  });

  after(async () => {
    await killAll();
    await Promise.all([app?.close(), idp?.close(), echo?.close()]);
    tmp.remove();
  });

  const origin = () => `http://${prom.publicHost}`;

  /** A browser signed in as `login` that reached the group-only socket. */
  async function signIn(login: string): Promise<{ client: WebClient; cookie: string; hops: string[] }> {
    const client = new WebClient(login);
    const nav = await client.navigate(`${origin()}/headers`, { login, maxHops: 15 });
    assert.equal(nav.last.status, 200, nav.hops.map((h) => `${h.status} ${h.url}`).join('\n'));
    return { client, cookie: `postern_session=${client.cookie(origin(), 'postern_session')}`, hops: nav.hops.map((h) => h.url) };
  }

  async function liveWebSocket(cookie: string): Promise<WebSocket> {
    const ws = await openWebSocket(edge.port, prom.publicHost, '/ws', { cookie, origin: origin() });
    ws.send('ping');
    assert.equal((await nextMessage(ws, 5_000)).data.toString('utf8'), 'ping');
    return ws;
  }

  const statusWith = async (cookie: string) =>
    (await request({ port: edge.port, host: prom.publicHost, path: '/headers', headers: { cookie, accept: 'application/json' } })).status;

  /** The IdP session id the edge stored for this user's login (what a logout token names). */
  function sidOf(email: string): string {
    const reader = new Database(db(), { readonly: true });
    try {
      const row = reader.prepare('SELECT g.sid FROM idp_grants g JOIN users u ON u.id = g.user_id WHERE u.email = ? ORDER BY g.created_at DESC').get(email) as { sid: string | null } | undefined;
      assert.ok(row?.sid, `a sid for ${email}`);
      return row.sid;
    } finally {
      reader.close();
    }
  }

  function auditOf(type: string): { actor: string; detail: Record<string, unknown> }[] {
    const reader = new Database(db(), { readonly: true });
    try {
      return (reader.prepare('SELECT actor, detail FROM audit_events WHERE type = ? ORDER BY id').all(type) as { actor: string; detail: string }[]).map((r) => ({
        actor: r.actor,
        detail: JSON.parse(r.detail) as Record<string, unknown>,
      }));
    } finally {
      reader.close();
    }
  }

  it('dex-shaped groups (the groups scope) reach a group rule; the edge asks for groups and offline_access', async () => {
    const before = app.requests.length;
    const { hops } = await signIn('dana');
    const authorize = new URL(hops.find((u) => u.startsWith(`${idp.issuer}/auth?`))!);
    assert.deepEqual(authorize.searchParams.get('scope')?.split(' ').sort(), ['email', 'groups', 'offline_access', 'openid', 'profile']);
    assert.equal(app.requests.slice(before).find((r) => r.url === '/headers')?.headers['x-auth-email'], 'dana@corp.example');
  });

  it('a user disabled at the IdP loses access within one re-validation period: their WebSocket and their postern-login TCP stream close', async () => {
    const { client, cookie } = await signIn('erin');
    const ws = await liveWebSocket(cookie);
    // `postern login` approved in that browser: its token follows the same IdP session.
    const token = await deviceLogin(client);
    const tcp = await openWebSocket(edge.port, edge.domain, '/v1/tcp', { authorization: `Bearer ${token}`, 'postern-socket': tcpSocket.id });
    tcp.send(Buffer.from('SELECT 1'));
    assert.equal((await nextMessage(tcp, 5_000)).data.toString('utf8'), 'SELECT 1');

    const disabledAt = Date.now();
    idp.accounts.set('erin', { ...person('erin@corp.example'), disabled: true });
    const [wsClosed, tcpClosed] = await Promise.all([closeOf(ws, 20_000), closeOf(tcp, 20_000)]);
    const elapsed = Date.now() - disabledAt;
    assert.ok(elapsed <= WITHIN_ONE_PERIOD_MS, `closed ${elapsed} ms after the IdP disabled the user (period ${PERIOD_MS} ms)`);
    assert.ok(wsClosed.code > 0);
    assert.equal(tcpClosed.code, TcpCloseCode.ACCESS_ENDED, tcpClosed.reason);
    assert.equal(await statusWith(cookie), 401, 'the session cookie no longer works');
    const refused = await api(edge, token, 'GET', '/whoami');
    assert.equal(refused.status, 401, 'the postern login token was revoked');
    const ended = auditOf('session.ended').find((e) => e.actor === 'erin@corp.example');
    assert.match(String(ended?.detail.reason), /refused the refresh token \(invalid_grant\)/);
    assert.equal((ended?.detail.tokens_revoked as string[] | undefined)?.length, 1);
  });

  it('changed claims take effect at the next re-validation: a group removed at the IdP closes the WebSocket and answers 403', async () => {
    const { cookie } = await signIn('fay');
    const ws = await liveWebSocket(cookie);
    const changedAt = Date.now();
    idp.accounts.set('fay', person('fay@corp.example', ['banzaicloud:ops']));
    await closeOf(ws, 20_000);
    assert.ok(Date.now() - changedAt <= WITHIN_ONE_PERIOD_MS, `closed ${Date.now() - changedAt} ms after the change`);
    assert.equal(await statusWith(cookie), 403, 'still signed in, no longer allowed');
    const changed = auditOf('session.changed').find((e) => e.actor === 'fay@corp.example');
    assert.deepEqual(changed?.detail.groupsRemoved, [DEV]);
    assert.deepEqual(changed?.detail.groupsAdded, ['banzaicloud:ops']);
  });

  it('an IdP-initiated back-channel logout ends the session at once, its WebSocket included', async () => {
    const { client, cookie } = await signIn('gus');
    const ws = await liveWebSocket(cookie);
    const closed = closeOf(ws, 10_000);
    const deliveries = idp.backchannel.length;
    const signedOutAt = Date.now();
    await idp.signOutAt(client);
    await closed;
    const elapsed = Date.now() - signedOutAt;
    assert.deepEqual(idp.backchannel.slice(deliveries), [{ ok: true }], 'the IdP delivered its logout token and the edge answered 200');
    assert.ok(elapsed < 2_000, `closed ${elapsed} ms after the IdP logout (not at the next re-validation)`);
    assert.equal(await statusWith(cookie), 401);
    const line = edge.logs().find((l) => l.msg === 'back-channel logout');
    assert.equal(line?.by, 'sid');
    assert.ok(auditOf('session.ended').some((e) => e.actor === 'gus@corp.example' && /back-channel logout/.test(String(e.detail.reason))));
  });

  describe('forged logout tokens', () => {
    let victimCookie: string;
    let sid: string;
    let sub: string;
    let otherKey: CryptoKey;

    before(async () => {
      ({ cookie: victimCookie } = await signIn('ivy'));
      sid = sidOf('ivy@corp.example');
      sub = 'ivy';
      otherKey = (await generateKeyPair('RS256')).privateKey;
    });

    /** A logout token as the IdP would sign it; `edit` breaks it. */
    async function logoutToken(edit: { claims?: Partial<JWTPayload> & Record<string, unknown>; drop?: string[]; header?: Record<string, unknown>; key?: CryptoKey | Uint8Array } = {}): Promise<string> {
      const now = Math.floor(Date.now() / 1000);
      const claims: Record<string, unknown> = { iss: idp.issuer, aud: IDP_CLIENT_ID, iat: now, exp: now + 120, jti: randomBytes(12).toString('base64url'), sub, sid, events: LOGOUT_EVENT, ...edit.claims };
      for (const name of edit.drop ?? []) delete claims[name];
      const alg = edit.key instanceof Uint8Array ? 'HS256' : 'RS256';
      return new SignJWT(claims).setProtectedHeader({ alg, kid: 'test-idp-rs256', typ: 'logout+jwt', ...edit.header }).sign(edit.key ?? idp.signingKey);
    }

    const post = (body: string, contentType = 'application/x-www-form-urlencoded') =>
      request({ port: edge.port, host: edge.domain, method: 'POST', path: '/auth/backchannel-logout', headers: { 'content-type': contentType, 'content-length': String(Buffer.byteLength(body)) }, body: Buffer.from(body) });
    const send = (token: string) => post(new URLSearchParams({ logout_token: token }).toString());

    it('every forged or malformed logout token is refused with 400, and the session lives on', async () => {
      const now = Math.floor(Date.now() / 1000);
      const forgeries: [string, RegExp, () => Promise<string>][] = [
        ['signed with another key', /signature does not verify/, () => logoutToken({ key: otherKey })],
        ['alg none (unsigned)', /algorithm not allowed/, async () => new UnsecuredJWT({ iss: idp.issuer, aud: IDP_CLIENT_ID, iat: now, jti: 'none-1', sid, sub, events: LOGOUT_EVENT }).encode()],
        ['HS256 with the client secret (alg confusion)', /algorithm not allowed/, () => logoutToken({ key: new TextEncoder().encode(IDP_CLIENT_SECRET) })],
        ['another issuer', /no configured issuer and client match/, () => logoutToken({ claims: { iss: 'http://127.0.0.1:1' } })],
        ['another audience', /no configured issuer and client match/, () => logoutToken({ claims: { aud: 'some-other-client' } })],
        ['an extra audience', /aud names other audiences/, () => logoutToken({ claims: { aud: [IDP_CLIENT_ID, 'some-other-client'] } })],
        ['issued long ago', /expired/, () => logoutToken({ claims: { iat: now - 3600, exp: now + 60 } })],
        ['issued in the future', /iat check failed/, () => logoutToken({ claims: { iat: now + 3600 } })],
        ['expired', /expired/, () => logoutToken({ claims: { exp: now - 60 } })],
        ['no iat', /iat missing/, () => logoutToken({ drop: ['iat'] })],
        ['no jti', /jti missing/, () => logoutToken({ drop: ['jti'] })],
        ['no events', /events missing/, () => logoutToken({ drop: ['events'] })],
        ['events without the back-channel logout event', /no back-channel logout event/, () => logoutToken({ claims: { events: { 'http://schemas.openid.net/event/other': {} } } })],
        ['an event that is not an object', /no back-channel logout event/, () => logoutToken({ claims: { events: { 'http://schemas.openid.net/event/backchannel-logout': 'yes' } } })],
        ['a nonce (an ID token replayed)', /must not contain a nonce/, () => logoutToken({ claims: { nonce: 'n-1' } })],
        ['typ JWT (an ID token)', /is not logout\+jwt/, () => logoutToken({ header: { typ: 'JWT' } })],
        ['neither sid nor sub', /neither sid nor sub/, () => logoutToken({ drop: ['sid', 'sub'] })],
        ['sid that is not a string', /sid is not a usable string/, () => logoutToken({ claims: { sid: 42 } })],
      ];
      for (const [what, reason, make] of forgeries) {
        const res = await send(await make());
        assert.equal(res.status, 400, `${what}: ${res.body.toString('utf8')}`);
        assert.match(res.body.toString('utf8'), reason, what);
        assert.equal(await statusWith(victimCookie), 200, `${what}: the session still works`);
      }
      for (const [what, body, type] of [
        ['no logout_token', 'other=1', undefined],
        ['two logout_tokens', `logout_token=${await logoutToken()}&logout_token=${await logoutToken()}`, undefined],
        ['a JSON body', JSON.stringify({ logout_token: await logoutToken() }), 'application/json'],
        ['not a JWT', 'logout_token=not.a.jwt', undefined],
      ] as const) {
        const res = await post(body, type);
        assert.equal(res.status, 400, what);
      }
      assert.equal((await request({ port: edge.port, host: edge.domain, path: '/auth/backchannel-logout' })).status, 405, 'GET is not a logout');
      assert.equal(await statusWith(victimCookie), 200, 'after every forgery, the session still works');
    });

    it('a genuine token naming another subject for this sid ends nothing; a replayed jti is refused; the genuine one ends the session', async () => {
      const mismatch = await send(await logoutToken({ claims: { sub: 'someone-else' } }));
      assert.equal(mismatch.status, 200, 'valid, but no session of that subject has this sid');
      assert.equal(await statusWith(victimCookie), 200, 'so the session lives on');

      const genuine = await logoutToken();
      assert.equal((await send(genuine)).status, 200);
      assert.equal(await statusWith(victimCookie), 401, 'the genuine logout token ended the session');
      const replay = await send(genuine);
      assert.equal(replay.status, 400);
      assert.match(replay.body.toString('utf8'), /jti already used/);
    });
  });

  it('RP-initiated logout (--oidc-rp-logout): signing out at the edge ends the IdP session too, then comes back to the edge', async () => {
    const { client, cookie } = await signIn('hal');
    const signOut = await client.fetch(`${edge.url}/auth/signout`, { form: { scope: 'here' }, headers: { origin: edge.url } });
    assert.equal(signOut.status, 303, signOut.body.slice(0, 300));
    const to = new URL(signOut.location!);
    assert.equal(`${to.origin}${to.pathname}`, `${idp.issuer}/session/end`);
    assert.equal(to.searchParams.get('client_id'), IDP_CLIENT_ID);
    assert.equal(to.searchParams.get('post_logout_redirect_uri'), `${edge.url}/auth/signed-out`);
    assert.equal(to.searchParams.get('id_token_hint')?.split('.').length, 3, 'the ID token as a hint');
    assert.equal(await statusWith(cookie), 401, 'the edge session ended before the browser left');
    // At the IdP: confirm, and come back to the edge's signed-out page.
    const next = await idp.signOutAt(client, to.href);
    assert.equal(next, `${edge.url}/auth/signed-out`);
    const again = await client.fetch(`${idp.issuer}/session/end`);
    assert.doesNotMatch(again.body, /Do you want to sign-out/, 'no IdP session is left');
    const back = await client.fetch(next);
    assert.equal(back.status, 200);
    assert.match(back.body, /signed out of this edge and of your identity provider/);
  });

  /** `postern login`'s device flow through the API, approved by this browser's edge session. */
  async function deviceLogin(client: WebClient): Promise<string> {
    const start = await request({ port: edge.port, host: edge.domain, method: 'POST', path: '/api/v1/device/code', headers: { 'content-type': 'application/json' }, body: Buffer.from('{"client_name":"laptop"}') });
    const { device_code: deviceCode, user_code: userCode } = JSON.parse(start.body.toString('utf8')) as { device_code: string; user_code: string };
    const approved = await client.fetch(`${edge.url}/device`, { form: { user_code: userCode, decision: 'approve' }, headers: { origin: edge.url } });
    assert.equal(approved.status, 200, approved.body.slice(0, 300));
    return pollUntil(async () => {
      const res = await request({ port: edge.port, host: edge.domain, method: 'POST', path: '/api/v1/device/token', headers: { 'content-type': 'application/json' }, body: Buffer.from(JSON.stringify({ device_code: deviceCode })) });
      return res.status === 200 ? (JSON.parse(res.body.toString('utf8')) as { token: string }).token : undefined;
    }, { timeoutMs: 10_000, intervalMs: 2_100, what: 'the device token' });
  }
});
