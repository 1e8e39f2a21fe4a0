import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type WebSocket from 'ws';
import { FacebookMock } from './lib/facebook-mock.js';
import { GithubMock } from './lib/github-mock.js';
import { DIRECTORY_SCOPE, GoogleDirectoryMock } from './lib/google-directory-mock.js';
import { closeOf, nextMessage, openWebSocket, request } from './lib/http.js';
import { IdentityApp } from './lib/identity-app.js';
import { startEdgeWithIdp, type IdpAccount, type TestIdp } from './lib/idp.js';
import { ConnectorProcess, createAccount, makeTempDir, type EdgeProcess } from './lib/postern.js';
import { killAll } from './lib/process.js';
import { WebClient } from './lib/web-client.js';

const PERIOD_MS = 3_000;
const WITHIN_ONE_PERIOD_MS = PERIOD_MS + PERIOD_MS / 4 + 3_000;
const SERVICE_ACCOUNT = 'postern-directory@postern-test.iam.gserviceaccount.com';
const ADMIN = 'admin@corp.example';
const ENG = 'eng@corp.example';
const FB_APP_ID = '1234567890123456';
const FB_APP_SECRET = 'facebook-test-secret-5e1d';

/** What Google's ID token says about a Workspace user: a verified email and the `hd` claim. */
const workspace = (email: string): IdpAccount => ({ email, email_verified: true, name: email.split('@')[0]!, claims: { hd: email.split('@')[1]! } });

/**
 * The Google preset and Facebook Login. Google signs in through a real oidc-provider shaped like
 * Google (`hd`, `email_verified`, no groups) and Workspace groups come from a mock of the Admin SDK
 * Directory API and Google's token endpoint (JWT-bearer grant) with their documented shapes;
 * Facebook through a mock of its login dialog and Graph API. Groups and Facebook grants are checked
 * again every --session-revalidate (3 s here).
 */
describe('Google Workspace (hd, directory groups) and Facebook, through their mocks', () => {
  const tmp = makeTempDir('identity-google-facebook');
  let edge: EdgeProcess;
  let google: TestIdp;
  let directory: GoogleDirectoryMock;
  let facebook: FacebookMock;
  let github: GithubMock;
  let app: IdentityApp;
  /** Only members of the Workspace group eng@corp.example. */
  let engSocket: ConnectorProcess;
  /** Only fan@fb.example. */
  let fanSocket: ConnectorProcess;

  before(async () => {
    const db = `${tmp.dir}/edge.db`;
    const owner = await createAccount(db, 'owner@corp.example');
    directory = await GoogleDirectoryMock.start({ clientEmail: SERVICE_ACCOUNT, admin: ADMIN });
    for (const user of ['alice', 'dave', 'erin']) directory.groups.set(`${user}@corp.example`, [ENG, 'all@corp.example']);
    const keyFile = `${tmp.dir}/directory-key.json`;
    directory.writeKeyFile(keyFile);
    facebook = await FacebookMock.start({
      appId: FB_APP_ID,
      appSecret: FB_APP_SECRET,
      users: { fan: { id: '10160000000000001', name: 'Fan Page', email: 'fan@fb.example' }, shy: { id: '10160000000000002', name: 'No Email' } },
    });
    writeFileSync(`${tmp.dir}/facebook.secret`, `${FB_APP_SECRET}\n`, { mode: 0o600 });
    github = await GithubMock.start({ clientId: 'Iv1.google-fb-test', clientSecret: 'gh-secret-77' });
    writeFileSync(`${tmp.dir}/github.secret`, 'gh-secret-77\n', { mode: 0o600 });
    ({ edge, idp: google } = await startEdgeWithIdp({
      db,
      dir: tmp.dir,
      preset: 'google',
      shape: { refreshTokens: true },
      accounts: {
        alice: workspace('alice@corp.example'),
        dave: workspace('dave@corp.example'),
        erin: workspace('erin@corp.example'),
        gmail: { email: 'bob@gmail.example', email_verified: true, name: 'Bob' },
        other: workspace('carol@other.example'),
      },
      extraArgs: [
        '--google-hosted-domain', 'corp.example',
        '--google-directory-credentials-file', keyFile,
        '--google-directory-admin', ADMIN,
        '--google-directory-url', directory.url,
        '--facebook-client-id', FB_APP_ID,
        '--facebook-client-secret-file', `${tmp.dir}/facebook.secret`,
        '--facebook-web-url', facebook.url,
        '--facebook-graph-url', facebook.url,
        '--github-client-id', 'Iv1.google-fb-test',
        '--github-client-secret-file', `${tmp.dir}/github.secret`,
        '--github-web-url', github.url,
        '--github-api-url', github.url,
        '--local-accounts',
        '--session-revalidate', `${PERIOD_MS / 1000}s`,
      ],
    }));
    app = await IdentityApp.start('workspace app');
    [engSocket, fanSocket] = await Promise.all([
      ConnectorProcess.start({ edge, token: owner, appPort: app.port, label: 'connect:eng', args: ['--name', 'eng', '--allowed-groups', ENG] }),
      ConnectorProcess.start({ edge, token: owner, appPort: app.port, label: 'connect:fan', args: ['--name', 'fans', '--allowed-email-addresses', 'fan@fb.example'] }),
    ]);
  });

  after(async () => {
    await killAll();
    await Promise.all([app?.close(), google?.close(), directory?.close(), facebook?.close(), github?.close()]);
    tmp.remove();
  });

  const originOf = (socket: ConnectorProcess) => `http://${socket.publicHost}`;

  /** Signs in with `provider` (the chooser's button) on the way to `socket`. */
  async function signIn(provider: 'google' | 'facebook', login: string, socket: ConnectorProcess) {
    const client = new WebClient(`${provider}:${login}`);
    if (provider === 'facebook') facebook.nextLogin = login;
    const before = app.requests.length;
    const nav = await client.navigate(`${edge.url}/auth/start/${provider}?rd=${encodeURIComponent(`${originOf(socket)}/headers`)}`, { login, maxHops: 15 });
    const cookie = client.cookie(originOf(socket), 'postern_session');
    return { client, nav, last: nav.last, reached: app.requests.slice(before), cookie: cookie ? `postern_session=${cookie}` : '' };
  }

  const statusAt = async (socket: ConnectorProcess, cookie: string) =>
    (await request({ port: edge.port, host: socket.publicHost, path: '/headers', headers: { cookie, accept: 'application/json' } })).status;

  async function liveWebSocket(socket: ConnectorProcess, cookie: string): Promise<WebSocket> {
    const ws = await openWebSocket(edge.port, socket.publicHost, '/ws', { cookie, origin: originOf(socket) });
    ws.send('hello');
    assert.equal((await nextMessage(ws, 5_000)).data.toString('utf8'), 'hello');
    return ws;
  }

  it('the login chooser lists each provider with its own mark, in the fixed order', async () => {
    const page = await new WebClient('chooser').fetch(`${edge.url}/auth/login?rd=%2F`);
    assert.equal(page.status, 200);
    const buttons = [...page.body.matchAll(/<a class="button idp-([a-z]+)" href="[^"]+"><svg class="mark"[^>]*>.*?<\/svg><span>Continue with ([^<]+)<\/span><\/a>/g)].map((m) => `${m[1]}:${m[2]}`);
    assert.deepEqual(buttons, ['google:Google', 'github:GitHub', 'facebook:Facebook', 'local:a Postern account']);
  });

  it('Google: a Workspace user of the hosted domain is let in by a directory group; the edge asked as the documented service account', async () => {
    const { last, reached, nav } = await signIn('google', 'alice', engSocket);
    assert.equal(last.status, 200, nav.hops.map((h) => `${h.status} ${h.url}`).join('\n'));
    assert.equal(reached.find((r) => r.url === '/headers')?.headers['x-auth-email'], 'alice@corp.example');
    const authorize = new URL(nav.hops.find((h) => h.url.startsWith(`${google.issuer}/auth?`))!.url);
    assert.equal(authorize.searchParams.get('hd'), 'corp.example', 'the account chooser is limited to the Workspace');
    assert.equal(authorize.searchParams.get('access_type'), 'offline', 'a refresh token, to follow the session');
    assert.deepEqual(directory.complaints, []);
    const assertion = directory.assertions[0]!;
    assert.equal(assertion.iss, SERVICE_ACCOUNT);
    assert.equal(assertion.sub, ADMIN, 'domain-wide delegation: acting for the admin');
    assert.equal(assertion.scope, DIRECTORY_SCOPE);
    assert.equal(assertion.aud, directory.tokenUri);
    const list = directory.requests.find((r) => r.path === '/admin/directory/v1/groups')!;
    assert.equal(list.query.get('userKey'), 'alice@corp.example');
  });

  it('Google: accounts outside the hosted domain are refused at sign-in with a clear page', async () => {
    for (const login of ['gmail', 'other']) {
      const { last, reached } = await signIn('google', login, engSocket);
      assert.equal(last.status, 400, login);
      assert.match(last.body, /Google sign-in failed: Sign-in refused: this edge accepts only Google Workspace accounts of corp\.example/, login);
      assert.equal(reached.length, 0, login);
    }
  });

  it('Google: directory groups are refreshed with the session (cached in between): a removed member loses the socket, live WebSocket included', async () => {
    const { cookie } = await signIn('google', 'dave', engSocket);
    const ws = await liveWebSocket(engSocket, cookie);
    const calls = () => directory.requests.filter((r) => r.path === '/admin/directory/v1/groups' && r.query.get('userKey') === 'dave@corp.example').length;
    const afterSignIn = calls();
    for (let i = 0; i < 10; i++) assert.equal(await statusAt(engSocket, cookie), 200);
    assert.ok(calls() - afterSignIn <= 1, 'requests do not ask the directory; at most one re-validation did');
    const removedAt = Date.now();
    directory.groups.set('dave@corp.example', ['all@corp.example']);
    await closeOf(ws, 20_000);
    assert.ok(Date.now() - removedAt <= WITHIN_ONE_PERIOD_MS, `closed ${Date.now() - removedAt} ms after the change`);
    assert.equal(await statusAt(engSocket, cookie), 403);
  });

  it('Facebook: OAuth with PKCE and the Graph API (id, name, email); the email rule lets the person in', async () => {
    const { last, reached } = await signIn('facebook', 'fan', fanSocket);
    assert.equal(last.status, 200, last.body.slice(0, 300));
    const seen = reached.find((r) => r.url === '/headers')!;
    assert.equal(seen.headers['x-auth-email'], 'fan@fb.example');
    assert.equal(seen.headers['x-auth-user'], 'Fan Page');
    assert.deepEqual(facebook.complaints, [], 'state, PKCE S256, the email permission, appsecret_proof');
    const me = facebook.requests.find((r) => r.path === '/v21.0/me')!;
    assert.equal(me.query.get('fields'), 'id,name,email');
    assert.match(me.authorization ?? '', /^Bearer EAAB/, 'the token in the Authorization header, not the URL');
  });

  it('Facebook: a person without a confirmed email gets no email (403 by an email rule)', async () => {
    const { last, reached } = await signIn('facebook', 'shy', fanSocket);
    assert.equal(last.status, 403);
    assert.match(last.body, /no verified email/);
    assert.equal(reached.filter((r) => r.url === '/headers').length, 0);
  });

  it('Facebook: removing the app at Facebook ends the session at the next re-validation', async () => {
    const { cookie } = await signIn('facebook', 'fan', fanSocket);
    const ws = await liveWebSocket(fanSocket, cookie);
    const removedAt = Date.now();
    facebook.deauthorize('fan');
    await closeOf(ws, 20_000);
    assert.ok(Date.now() - removedAt <= WITHIN_ONE_PERIOD_MS, `closed ${Date.now() - removedAt} ms after the app was removed`);
    assert.equal(await statusAt(fanSocket, cookie), 401);
  });

  it('Google: without domain-wide delegation, sign-in says what to fix in the Admin console', async () => {
    directory.delegated = false;
    directory.revokeTokens();
    try {
      const { last, reached } = await signIn('google', 'erin', engSocket);
      assert.equal(last.status, 400);
      assert.match(last.body, /unauthorized_client.*domain-wide delegation of https:\/\/www\.googleapis\.com\/auth\/admin\.directory\.group\.readonly/);
      assert.equal(reached.length, 0);
    } finally {
      directory.delegated = true;
    }
  });
});
