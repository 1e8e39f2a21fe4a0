import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { rawHttp, rawUpgrade } from './lib/http.js';
import { IdentityApp } from './lib/identity-app.js';
import { startEdgeWithIdp, type TestIdp } from './lib/idp.js';
import { ConnectorProcess, createAccount, makeTempDir, type EdgeProcess } from './lib/postern.js';
import { killAll } from './lib/process.js';
import { WebClient } from './lib/web-client.js';

/**
 * Spellings of the edge's reserved paths (edge/src/proxy/reserved.ts): percent-encoded dots and
 * slashes, dot segments, doubled slashes, backslashes, case, trailing dots and slashes.
 */
const CALLBACK_SPELLINGS = [
  '/.postern/callback', '/%2epostern/callback', '/%2Epostern/callback', '/%2e%70ostern/callback', '/.postern%2fcallback', '/.postern%2Fcallback',
  '/./.postern/callback', '//.postern/callback', '/x/../.postern/callback', '/x/%2e%2e/.postern/callback', '/.postern/./callback', '/.postern//callback',
  '/.postern/x/../callback', '/.postern/x/%2e%2e/callback', '/.postern/callback/', '/.postern/callback.', '/.postern./callback', '/.POSTERN/callback',
  '/.postern/CALLBACK', '/.postern\\callback', '/\\.postern/callback', '/.postern/callback%00', '/.postern/callback;x', '/.postern/%63allback',
  '/.postern/callback%2f', '/.postern/callback%20', '/.postern', '/.postern%2f', '/.postern/../headers', '/.postern/%2e%2e/headers', '/.postern/..%2fheaders',
];

/**
 * Path normalisation against the edge's path rules (SECURITY.md rule 8; Pomerium CVE-2021-39206,
 * CVE-2023-33189): a request is the edge's (its path starts with `/.postern/`, byte for byte) or
 * the app's, never both. The edge's are answered by the edge and never reach the app; the app's
 * pass the gate like any path and reach the app exactly as sent. A handoff code on a path the edge
 * treats as the app's signs no one in.
 */
describe('path normalisation: reserved paths, the gate and the app never disagree', () => {
  const tmp = makeTempDir('security-paths');
  let edge: EdgeProcess;
  let idp: TestIdp;
  let app: IdentityApp;
  let socket: ConnectorProcess;
  let token: string;
  let client: WebClient;

  const origin = () => `http://${socket.publicHost}`;
  const isReserved = (path: string) => path.startsWith('/.postern/');

  before(async () => {
    const db = `${tmp.dir}/edge.db`;
    token = await createAccount(db, 'alice@example.com');
    ({ edge, idp } = await startEdgeWithIdp({ db, dir: tmp.dir, accounts: { bob: { sub: 'bob-sub', email: 'bob@example.com', email_verified: true } } }));
    app = await IdentityApp.start('paths');
    socket = await ConnectorProcess.start({ edge, token, appPort: app.port, args: ['--name', 'paths', '--cloudauth', '--allowed-email-domains', 'example.com'] });
    client = new WebClient('bob');
    assert.equal((await client.navigate(`${origin()}/headers`, { login: 'bob' })).last.status, 200);
  });

  after(async () => {
    await killAll();
    await Promise.all([app?.close(), idp?.close()]);
    tmp.remove();
  });

  /** A fresh one-time code for the signed-in client, and the nonce cookie it is bound to. */
  async function freshCode(): Promise<{ code: string; nonce: string }> {
    const nav = await client.navigate(`${edge.url}/auth/login?rd=${encodeURIComponent(`${origin()}/landed`)}`, { stopAt: (u) => u.pathname === '/.postern/callback' });
    assert.ok(nav.stoppedAt, 'a handoff link');
    return { code: nav.stoppedAt.searchParams.get('code')!, nonce: client.cookie(origin(), 'postern_bind')! };
  }

  const send = (target: string, headers: string) =>
    rawHttp(edge.port, `GET ${target} HTTP/1.1\r\nHost: ${socket.publicHost}\r\nAccept: application/json\r\n${headers}Connection: close\r\n\r\n`);

  for (const spelling of CALLBACK_SPELLINGS) {
    it(`${JSON.stringify(spelling)} is ${isReserved(spelling) ? "the edge's" : "the app's, behind the gate"}, never both`, async () => {
      const { code, nonce } = await freshCode();
      const target = `${spelling}?code=${code}`;
      const before = app.requests.length;

      // Anonymous, with the nonce cookie of the browser the code was made for.
      const anonymous = await send(target, `Cookie: postern_bind=${nonce}\r\n`);
      const normalised = new URL(spelling.replace(/\\/g, '%5C'), 'http://x').pathname;
      if (isReserved(spelling) && normalised === '/.postern/callback') {
        assert.equal(anonymous.status, 302, `the edge redeems its own callback: ${anonymous.head}`);
        assert.match(anonymous.head, /set-cookie: postern_session=[^;]+;/i, 'a session for the browser holding the nonce');
      } else {
        assert.ok([400, 401, 404].includes(anonymous.status), `${anonymous.status}: refused, gated or not found: ${anonymous.head}`);
        assert.doesNotMatch(anonymous.head, /set-cookie: postern_session=[^;]+;/i, 'no session from a path that is not the callback');
      }
      assert.equal(app.requests.length, before, 'nothing reached the app without credentials');

      // With a token that the gate lets in: the app's paths reach the app, byte for byte; the edge's never do.
      const authorised = await send(target, `Authorization: Bearer ${token}\r\nCookie: postern_bind=${nonce}\r\n`);
      const reached = app.requests.slice(before);
      if (isReserved(spelling)) {
        assert.deepEqual(reached, [], 'a reserved path never reaches the app');
      } else if (authorised.status !== 400) {
        assert.equal(authorised.status, 200, authorised.head);
        assert.deepEqual(reached.map((r) => r.url), [target], 'the app receives exactly the target the client sent');
        assert.doesNotMatch(authorised.head, /set-cookie: postern_session=/i, 'the edge redeemed nothing on the app\'s path');
      }

      // An upgrade on the same path: the edge's paths have no WebSocket; the app's are gated.
      const upgrade = await rawUpgrade(edge.port, socket.publicHost, target.replace(/\\/g, '%5C'), { origin: origin() });
      if ('socket' in upgrade) upgrade.socket.destroy();
      assert.ok([400, 401, 404].includes(upgrade.status), `upgrade: ${upgrade.status}`);
      assert.equal(app.requests.filter((r) => r.upgrade).length, 0, 'no upgrade reached the app');
    });
  }

  it('a code left unredeemed on an app path still works only at the callback, and only once', async () => {
    const { code, nonce } = await freshCode();
    await send(`/%2epostern/callback?code=${code}`, `Authorization: Bearer ${token}\r\nCookie: postern_bind=${nonce}\r\n`);
    const real = await send(`/.postern/callback?code=${code}`, `Cookie: postern_bind=${nonce}\r\n`);
    assert.equal(real.status, 302);
    assert.match(real.head, /set-cookie: postern_session=[^;]+;/i);
    const again = await send(`/.postern/callback?code=${code}`, `Cookie: postern_bind=${nonce}\r\n`);
    assert.doesNotMatch(again.head, /set-cookie: postern_session=[^;]+;/i, 'single use');
  });

  it("answers the edge's other reserved paths by their normalised name, and nothing else", async () => {
    for (const path of ['/.postern/jwks.json', '/.postern/./jwks.json', '/.postern/x/../jwks.json']) {
      const res = await send(path, '');
      assert.equal(res.status, 200, path);
      assert.match(res.body, /"keys"/, `${path}: the JWKS`);
    }
    for (const path of ['/.postern/', '/.postern/nothing', '/.postern/../../etc/passwd', '/.postern/%2e%2e/%2e%2e/headers']) {
      assert.equal((await send(path, `Authorization: Bearer ${token}\r\n`)).status, 404, path);
    }
  });

  it('keeps every spelling of the edge host\'s API and callback behind their own checks', async () => {
    const edgeSend = (target: string) => rawHttp(edge.port, `GET ${target} HTTP/1.1\r\nHost: ${edge.domain}\r\nAccept: application/json\r\nConnection: close\r\n\r\n`);
    for (const path of [
      '/api/v1/sockets', '/api/v1//sockets', '/api//v1/sockets', '/api/v1/./sockets', '/api/v1/x/../sockets', '/api/v1/%73ockets', '/api/v1/sockets/', '/API/v1/sockets',
      '/api/v1/sockets%2f', '/api/v1/sockets;x', '/api/v1/tokens', '/api/v1/%74okens', '/api/v1/audit', '/api/v1/./audit',
    ]) {
      const res = await edgeSend(path);
      assert.ok([400, 401, 404].includes(res.status), `${path}: ${res.status} without a token`);
    }
    for (const path of ['/auth/callback', '/auth//callback', '/auth/./callback', '/auth/%63allback', '/AUTH/callback', '/auth/callback/', '/auth/x/../callback']) {
      const res = await edgeSend(`${path}?code=x&state=y`);
      assert.ok([400, 404].includes(res.status), `${path}: ${res.status}`);
      assert.doesNotMatch(res.head, /set-cookie: postern_login=[^;]+;/i, `${path}: no login`);
    }
  });
});
