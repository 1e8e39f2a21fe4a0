import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { headerSpellings } from './lib/header-variants.js';
import { rawHttp, rawUpgrade, request } from './lib/http.js';
import { api, ConnectorProcess, createAccount, EdgeProcess, makeTempDir } from './lib/postern.js';
import { killAll } from './lib/process.js';
import { RecordingApp } from './lib/recording-app.js';
import { ScriptedApp } from './lib/scripted-app.js';
import { pollUntil } from './lib/wait.js';

const FORGED = 'forged-by-client';
/** Identity headers of the default socket, the assertion, and the whole forwarding family the edge owns. */
const IDENTITY = ['X-Auth-Email', 'X-Auth-User', 'X-Postern-Assertion', 'X-Postern-User'];
const FORWARDING = [
  'X-Forwarded-For', 'X-Forwarded-Host', 'X-Forwarded-Proto', 'X-Forwarded-Port', 'X-Forwarded-Prefix', 'X-Forwarded-Uri',
  'X-Forwarded-Email', 'X-Forwarded-User', 'X-Forwarded-Groups', 'X-Forwarded-Preferred-Username', 'X-Forwarded-Access-Token',
  'Forwarded', 'X-Real-IP',
];
/** The names the `custom` socket gives its identity headers (Grafana auth.proxy style). */
const CUSTOM = { email: 'X-WEBAUTH-EMAIL', user: 'X-WEBAUTH-USER' };

const canonical = (name: string) => name.toLowerCase().replace(/_/g, '-');

/** Header lines of a raw request head, as [canonical name, value]. */
function headLines(bytes: string): [string, string][] {
  const head = bytes.slice(0, bytes.indexOf('\r\n\r\n'));
  return head
    .split('\r\n')
    .slice(1)
    .map((line) => [canonical(line.slice(0, line.indexOf(':'))), line.slice(line.indexOf(':') + 1).trim()] as [string, string]);
}

/**
 * Client-forged identity headers in every spelling (SECURITY.md rule 2; Grafana auth.proxy,
 * oauth2-proxy GHSA-vjrc-mh2v-45x6, Traefik CVE-2024-45410), observed as the exact bytes the app
 * receives. The session-cookie variants and a first list of spellings are in
 * test/identity-attacks.test.ts; the header functions' unit tests in edge/test/headers.test.ts.
 */
describe('identity and forwarding headers: every client-sent variant dropped, the edge sets its own', () => {
  const tmp = makeTempDir('security-headers');
  let edge: EdgeProcess;
  let app: RecordingApp;
  let token: string;
  let jwks: JSONWebKeySet;
  /** Sign-in required with the default names; with custom names; public. */
  let guarded: ConnectorProcess;
  let custom: ConnectorProcess;
  let open: ConnectorProcess;
  /** A public socket whose app answers with hop-by-hop headers of its own. */
  let scripted: ConnectorProcess;
  let scriptedApp: ScriptedApp;
  let counter = 0;

  before(async () => {
    app = await RecordingApp.start();
    const db = `${tmp.dir}/edge.db`;
    token = await createAccount(db, 'alice@example.com');
    // One request below carries every spelling at once (a few hundred fields): above the default
    // header-count limit (431, tested in limits.test.ts), so this edge allows more.
    edge = await EdgeProcess.start({ db, extraArgs: ['--max-header-count', '1000'] });
    [guarded, custom, open] = await Promise.all([
      ConnectorProcess.start({ edge, token, appPort: app.port, label: 'connect:guarded', args: ['--name', 'guarded', '--cloudauth'] }),
      ConnectorProcess.start({ edge, token, appPort: app.port, label: 'connect:custom', args: ['--name', 'custom', '--cloudauth', '--email-header', CUSTOM.email, '--user-header', CUSTOM.user] }),
      ConnectorProcess.start({ edge, token, appPort: app.port, label: 'connect:open', args: ['--name', 'open'] }),
    ]);
    const res = await request({ port: edge.port, host: edge.domain, path: '/.well-known/jwks.json' });
    jwks = JSON.parse(res.body.toString('utf8')) as JSONWebKeySet;
    scriptedApp = await ScriptedApp.start();
    scripted = await ConnectorProcess.start({ edge, token, appPort: scriptedApp.port, label: 'connect:scripted', args: ['--name', 'scripted'] });
  });

  after(async () => {
    await killAll();
    await Promise.all([app?.close(), scriptedApp?.close()]);
    tmp.remove();
  });

  /** One raw request to `target` (with the owner's token), and the bytes the app received for it. */
  async function send(target: ConnectorProcess, lines: string, options: { method?: string; body?: string; path?: string } = {}) {
    const marker = `/h/${++counter}`;
    const text = `${options.method ?? 'GET'} ${marker}${options.path ?? ''} HTTP/1.1\r\nHost: ${target.publicHost}\r\nAuthorization: Bearer ${token}\r\n${lines}Connection: close\r\n\r\n${options.body ?? ''}`;
    const res = await rawHttp(edge.port, text);
    const bytes = res.status === 200 ? await pollUntil(async () => app.requestBytes(marker), { timeoutMs: 5_000, intervalMs: 20, what: `${marker} at the app` }) : app.requestBytes(marker);
    return { status: res.status, head: res.head, body: res.body, bytes };
  }

  /** The app saw nothing forged and exactly the edge's own identity and forwarding headers. */
  async function assertEdgeOwnHeaders(target: ConnectorProcess, bytes: string | undefined, what: string): Promise<void> {
    assert.ok(bytes, `${what}: the request reached the app`);
    assert.doesNotMatch(bytes, new RegExp(FORGED, 'i'), `${what}: a forged value reached the app:\n${bytes}`);
    const lines = headLines(bytes);
    const values = (name: string) => lines.filter(([n]) => n === canonical(name)).map(([, v]) => v);
    assert.deepEqual(values('host'), [target.publicHost], `${what}: one Host`);
    assert.deepEqual(values('x-forwarded-for'), ['127.0.0.1'], `${what}: the edge's X-Forwarded-For`);
    assert.deepEqual(values('x-forwarded-host'), [target.publicHost], `${what}: the edge's X-Forwarded-Host`);
    assert.deepEqual(values('x-forwarded-proto'), ['http'], `${what}: the edge's X-Forwarded-Proto`);
    for (const name of ['forwarded', 'x-real-ip', 'authorization']) assert.deepEqual(values(name), [], `${what}: no ${name}`);
    if (target === open) {
      for (const name of [...IDENTITY, CUSTOM.email, CUSTOM.user]) assert.deepEqual(values(name), [], `${what}: a public socket's app is told nobody`);
      return;
    }
    const names = target === custom ? CUSTOM : { email: 'X-Auth-Email', user: 'X-Auth-User' };
    assert.deepEqual(values(names.email), ['alice@example.com'], `${what}: exactly the edge's ${names.email}`);
    assert.equal(values(names.user).length, 1, `${what}: exactly one ${names.user}`);
    const assertion = values('x-postern-assertion');
    assert.equal(assertion.length, 1, `${what}: exactly one assertion`);
    const { payload } = await jwtVerify(assertion[0]!, createLocalJWKSet(jwks), { issuer: edge.url, audience: `http://${target.publicHost}`, algorithms: ['ES256'], typ: 'postern-assertion+jwt' });
    assert.equal(payload.email, 'alice@example.com', `${what}: the assertion names the real user`);
    if (target === custom) for (const name of ['X-Auth-Email', 'X-Auth-User']) assert.deepEqual(values(name), [], `${what}: the default names are dropped too`);
  }

  it('drops every spelling of every edge-owned header sent once, on every kind of socket', { timeout: 120_000 }, async () => {
    const names = [...IDENTITY, ...FORWARDING, CUSTOM.email, CUSTOM.user];
    for (const target of [guarded, custom, open]) {
      // The custom names are identity headers only on the socket that chose them; elsewhere they are the app's own.
      for (const name of target === custom ? names : names.filter((n) => n !== CUSTOM.email && n !== CUSTOM.user)) {
        for (const spelling of headerSpellings(name)) {
          const { status, bytes } = await send(target, `${spelling}: ${FORGED}\r\n`);
          const what = `${spelling} at ${target === open ? 'open' : target === custom ? 'custom' : 'guarded'}`;
          assert.equal(status, 200, what);
          await assertEdgeOwnHeaders(target, bytes, what);
        }
      }
    }
  });

  it('drops them all in one request, duplicated and mixed, with padded values', async () => {
    const lines = [...IDENTITY, ...FORWARDING]
      .flatMap((name) => headerSpellings(name).slice(0, 5))
      .flatMap((spelling, i) => [`${spelling}: ${FORGED}\r\n`, `${spelling}:\t ${FORGED}-${i} \t\r\n`])
      .join('');
    for (const target of [guarded, open]) {
      const { status, bytes } = await send(target, lines);
      assert.equal(status, 200);
      await assertEdgeOwnHeaders(target, bytes, 'all at once');
    }
    const customLines = [CUSTOM.email, CUSTOM.user, 'X-Auth-Email', 'X-Auth-User'].flatMap((name) => headerSpellings(name).map((s) => `${s}: ${FORGED}\r\n`)).join('');
    for (const target of [custom]) {
      const { status, bytes } = await send(target, lines + customLines);
      assert.equal(status, 200);
      await assertEdgeOwnHeaders(target, bytes, 'all at once');
    }
  });

  it('Traefik CVE-2024-45410: naming the edge-owned headers in Connection never makes it drop its own', async () => {
    const listed = [...IDENTITY, ...FORWARDING, CUSTOM.email, CUSTOM.user, 'Host'];
    for (const target of [guarded, custom, open]) {
      for (const spellings of [listed, listed.map((n) => n.toLowerCase().replace(/-/g, '_')), listed.map((n) => n.toUpperCase())]) {
        // Listed alone; listed and also sent; listed across several Connection headers.
        const alone = await send(target, `Connection: keep-alive, ${spellings.join(', ')}\r\n`);
        assert.equal(alone.status, 200, `${alone.head}\n${alone.body.match(/<p[^>]*>([^<]*)/)?.[1]}`);
        await assertEdgeOwnHeaders(target, alone.bytes, `Connection: ${spellings[0]}…`);
        const sent = await send(target, `Connection: ${spellings.join(',')}\r\n${spellings.filter((n) => n.toLowerCase() !== 'host').map((n) => `${n}: ${FORGED}\r\n`).join('')}`);
        assert.equal(sent.status, 200, sent.head);
        await assertEdgeOwnHeaders(target, sent.bytes, `Connection and sent: ${spellings[0]}…`);
        const split = await send(target, spellings.map((n) => `Connection: ${n}\r\n`).join(''));
        assert.equal(split.status, 200, split.head);
        await assertEdgeOwnHeaders(target, split.bytes, `one Connection header per name: ${spellings[0]}…`);
      }
    }
  });

  it('refuses obs-fold, a space before the colon and non-token look-alike names with 400, before the app', async () => {
    for (const name of [...IDENTITY, CUSTOM.email]) {
      for (const line of [
        `${name}: alice@example.com\r\n ${FORGED}\r\n`,
        `X-Note: x\r\n\t${name}: ${FORGED}\r\n`,
        `${name} : ${FORGED}\r\n`,
        `${name.replace(/(?<=^X-)[A-Za-z]/, '\u0430')}: ${FORGED}\r\n`,
        `${name}\0: ${FORGED}\r\n`,
      ]) {
        const { status, bytes } = await send(guarded, line);
        assert.equal(status, 400, `${JSON.stringify(line)} is refused`);
        assert.equal(bytes, undefined, `${JSON.stringify(line)}: nothing reached the app`);
      }
    }
  });

  it('never forwards identity headers sent as chunked trailers', async () => {
    const trailers = [...IDENTITY, 'X-Forwarded-For', CUSTOM.email].map((n) => `${n}: ${FORGED}\r\n`).join('');
    for (const target of [guarded, custom]) {
      const { status, bytes } = await send(target, 'Transfer-Encoding: chunked\r\nTrailer: X-Auth-Email\r\n', { method: 'POST', body: `4\r\nbody\r\n0\r\n${trailers}\r\n` });
      assert.equal(status, 200);
      await assertEdgeOwnHeaders(target, bytes, 'trailers');
      assert.match(bytes!, /body/, 'the body itself arrives');
    }
  });

  it('drops forged headers on a WebSocket upgrade and sets its own there too', async () => {
    for (const target of [guarded, custom, open]) {
      const marker = `/h/ws-${++counter}`;
      const forged: Record<string, string> = { authorization: `Bearer ${token}` };
      for (const name of [...IDENTITY, ...FORWARDING, ...(target === custom ? [CUSTOM.email, CUSTOM.user] : [])]) {
        forged[name] = FORGED;
        forged[name.toLowerCase().replace(/-/g, '_')] = FORGED;
      }
      const res = await rawUpgrade(edge.port, target.publicHost, marker, forged);
      assert.equal(res.status, 101, `the upgrade is accepted at ${target.publicHost}`);
      if ('socket' in res) res.socket.destroy();
      const bytes = await pollUntil(async () => app.requestBytes(marker), { timeoutMs: 5_000, intervalMs: 20, what: 'the upgrade at the app' });
      await assertEdgeOwnHeaders(target, bytes, 'WebSocket upgrade');
    }
  });

  it('refuses to name a socket\'s identity header after a framing, credential or edge-owned header', async () => {
    for (const name of ['Content-Length', 'Transfer-Encoding', 'Host', 'Cookie', 'Authorization', 'Connection', 'X-Forwarded-For', 'X-Postern-Assertion', 'X-Real-IP']) {
      for (const field of ['email', 'user']) {
        const res = await api(edge, token, 'POST', '/sockets', { name: `hdr-${counter++}`, ephemeral: false, cloudauth: true, identity_headers: { [field]: name } });
        assert.equal(res.status, 400, `${field} header named ${name}: ${JSON.stringify(res.json)}`);
      }
    }
    const ok = await api(edge, token, 'POST', '/sockets', { name: 'hdr-ok', ephemeral: false, cloudauth: true, identity_headers: { email: 'Remote-Email', user: 'Remote-User' } });
    assert.equal(ok.status, 201, JSON.stringify(ok.json));
  });

  it('drops hop-by-hop headers both ways (RFC 9110 §7.6.1), including credentials meant for a proxy', async () => {
    const hop = ['Proxy-Authorization: Basic cHJveHk6c2VjcmV0', 'Proxy-Connection: keep-alive', 'Keep-Alive: timeout=5', 'TE: trailers', 'Trailer: X-Later', 'Upgrade: websocket', 'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA', 'X-Listed: scoped'];
    const { status, bytes } = await send(guarded, `Connection: X-Listed, Keep-Alive\r\n${hop.map((h) => `${h}\r\n`).join('')}X-Kept: end-to-end\r\n`);
    assert.equal(status, 200);
    const names = headLines(bytes!).map(([n]) => n);
    for (const name of ['proxy-authorization', 'proxy-connection', 'keep-alive', 'te', 'trailer', 'upgrade', 'http2-settings', 'x-listed']) assert.ok(!names.includes(name), `${name} is not forwarded`);
    assert.doesNotMatch(bytes!, /cHJveHk6c2VjcmV0/, 'the proxy credential never reaches the app');
    assert.ok(names.includes('x-kept'), 'end-to-end headers pass');

    scriptedApp.script('/hop', {
      headers: { connection: 'X-App-Scoped, close', 'keep-alive': 'timeout=1', 'proxy-authenticate': 'Basic realm="x"', 'x-app-scoped': 'scoped', 'x-app-kept': 'kept', trailer: 'X-Later', upgrade: 'h2c' },
      body: 'hop',
    });
    const res = await request({ port: edge.port, host: scripted.publicHost, path: '/hop' });
    assert.equal(res.status, 200);
    for (const name of ['keep-alive', 'proxy-authenticate', 'x-app-scoped', 'trailer', 'upgrade']) assert.equal(res.headers[name], undefined, `the app's ${name} does not reach the browser`);
    assert.equal(res.headers['x-app-kept'], 'kept');
  });
});
