import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { request } from './lib/http.js';
import { IdentityApp } from './lib/identity-app.js';
import { startEdgeWithIdp, type IdpAccount, type TestIdp } from './lib/idp.js';
import { api, ConnectorProcess, createAccount, makeTempDir, runCli, type EdgeProcess } from './lib/postern.js';
import { killAll } from './lib/process.js';
import { WebClient } from './lib/web-client.js';

/**
 * Claims an IdP (or whoever runs it) may send: quotes, SQL, CRLF, ANSI escapes, non-Latin scripts,
 * markup. The login name is the subject (oidc-provider's account id), so subjects are hostile too.
 */
const HOSTILE: Record<string, { readonly login: string; readonly claims: IdpAccount }> = {
  quote: { login: "sub'); DROP TABLE users;--", claims: { email: "o'brien@example.com", email_verified: true, name: "Robert'); DROP TABLE sessions;--" } },
  crlf: { login: 'crlf-sub', claims: { email: 'crlf@example.com', email_verified: true, name: 'Eve\r\nX-Auth-Email: admin@example.com' } },
  ansi: { login: 'ansi-sub', claims: { email: 'ansi@example.com', email_verified: true, name: '\u001b[31mred\u001b[0m\u001b]0;pwned\u0007' } },
  cjk: { login: 'cjk-sub', claims: { email: 'yamada@example.com', email_verified: true, name: '山田 太郎' } },
  latin: { login: 'latin-sub', claims: { email: 'zoe@example.com', email_verified: true, name: 'Zoë' } },
  nul: { login: 'nul-sub', claims: { email: 'nul@example.com', email_verified: true, name: 'a\u0000b' } },
  nomail: { login: '\u001b[2J\r\n{"level":60,"msg":"forged log line"}', claims: { name: '<script>alert(1)</script>' } },
  outsider: { login: 'outsider-sub', claims: { email: "o'hara@outsider.test", email_verified: true, name: '<img src=x onerror=alert(1)>' } },
};

/**
 * Injection into SQL and logs (SECURITY.md rule 11): hostile values in claims, names and headers
 * are stored and shown verbatim-safe; headers to the app stay single, valid lines; the edge logs
 * one JSON line per event with control characters escaped and no secrets; the CLI prints no
 * stranger's escape sequence to a terminal.
 */
describe('injection: SQL, headers, pages, logs and terminals', () => {
  const tmp = makeTempDir('security-injection');
  let db: string;
  let edge: EdgeProcess;
  let idp: TestIdp;
  let app: IdentityApp;
  let socket: ConnectorProcess;
  let aliceToken: string;
  let jwks: JSONWebKeySet;
  /** Every secret the tests handled: none may appear in a log line. */
  const secrets: string[] = [];

  const origin = () => `http://${socket.publicHost}`;

  before(async () => {
    db = `${tmp.dir}/edge.db`;
    aliceToken = await createAccount(db, 'alice@example.com');
    secrets.push(aliceToken);
    const accounts = Object.fromEntries(Object.values(HOSTILE).map(({ login, claims }) => [login, { sub: login, ...claims }]));
    ({ edge, idp } = await startEdgeWithIdp({ db, dir: tmp.dir, accounts }));
    app = await IdentityApp.start('injection');
    socket = await ConnectorProcess.start({ edge, token: aliceToken, appPort: app.port, args: ['--name', 'inject', '--cloudauth', '--allowed-email-domains', 'example.com'] });
    jwks = JSON.parse((await request({ port: edge.port, host: edge.domain, path: '/.well-known/jwks.json' })).body.toString('utf8')) as JSONWebKeySet;
  });

  after(async () => {
    await killAll();
    await Promise.all([app?.close(), idp?.close()]);
    tmp.remove();
  });

  /** Signs a hostile identity in at the socket; records the cookies and codes it saw as secrets. */
  async function signIn(label: string) {
    const { login } = HOSTILE[label]!;
    const client = new WebClient(label);
    const nav = await client.navigate(`${origin()}/headers`, { login });
    for (const hop of nav.hops) {
      const code = new URL(hop.url).searchParams.get('code');
      if (code) secrets.push(code);
    }
    for (const cookie of client.cookies) secrets.push(cookie.value);
    return nav.last;
  }

  for (const login of ['quote', 'crlf', 'ansi', 'cjk', 'latin', 'nul']) {
    it(`${login}: the app gets one valid X-Auth-User line and the exact name in the signed assertion`, async () => {
      const { claims } = HOSTILE[login]!;
      const last = await signIn(login);
      assert.equal(last.status, 200, `${login} reaches the app: ${last.body.slice(0, 200)}`);
      const seen = app.last('/headers');
      const raw = seen.rawHeaders;
      const values = (name: string) => raw.filter((_, i) => i % 2 === 1 && raw[i - 1]!.toLowerCase() === name);
      assert.deepEqual(values('x-auth-email'), [claims.email], 'exactly one X-Auth-Email, the real one');
      const user = values('x-auth-user');
      assert.equal(user.length, 1, 'exactly one X-Auth-User');
      assert.match(user[0]!, /^[\x20-\x7e]+$/, 'printable ASCII only: no CR/LF, escapes or bytes an app would misread');
      assert.equal(user[0], /^[\x20-\x7e]+$/.test(claims.name!) ? claims.name : claims.email, 'the name when it is plain ASCII, else the email');
      const { payload } = await jwtVerify(String(seen.headers['x-postern-assertion']), createLocalJWKSet(jwks), { issuer: edge.url, audience: origin(), algorithms: ['ES256'] });
      assert.equal(payload.name, claims.name, 'the signed assertion carries the name exactly');
    });
  }

  it('stores hostile claims verbatim (prepared statements), and the database keeps working', async () => {
    await signIn('quote');
    const sqlite = new Database(db, { readonly: true });
    try {
      const { login, claims } = HOSTILE.quote!;
      const row = sqlite.prepare('SELECT subject, name, email FROM users WHERE subject = ?').get(login) as { subject: string; name: string; email: string } | undefined;
      assert.deepEqual(row, { subject: login, name: claims.name, email: claims.email });
      for (const table of ['users', 'sessions', 'sockets', 'api_tokens']) {
        assert.ok((sqlite.prepare(`SELECT count(*) AS n FROM ${table}`).get() as { n: number }).n > 0, `${table} is still there`);
      }
    } finally {
      sqlite.close();
    }
  });

  it('keeps hostile socket and token names verbatim, refuses control characters in names', async () => {
    // A socket name is a display name; its host name is a label made from it.
    const sqlName = "x'; DROP TABLE sockets;-- <b>";
    const created = await api(edge, aliceToken, 'POST', '/sockets', { name: sqlName, ephemeral: false });
    assert.equal(created.status, 201, JSON.stringify(created.json));
    const view = created.json as { name: string; hostname: string };
    assert.equal(view.name, sqlName);
    assert.match(view.hostname, /^x-drop-table-sockets-b-[a-z0-9]+\.localhost$/, 'a clean DNS label');
    const listed = (await api(edge, aliceToken, 'GET', '/sockets')).json as { name: string }[];
    assert.ok(listed.some((x) => x.name === sqlName), 'listed exactly');
    for (const name of ['a\r\nb', '\u001b[31mred', 'a\u0000b', 'tab\there', 'x\u009b31m']) {
      const res = await api(edge, aliceToken, 'POST', '/sockets', { name, ephemeral: false });
      assert.equal(res.status, 400, `${JSON.stringify(name)}: ${JSON.stringify(res.json)}`);
      assert.match(JSON.stringify(res.json), /control characters/);
    }
    const tokenName = "'); DROP TABLE api_tokens;-- \u001b[31m\r\n<b>";
    const token = await api(edge, aliceToken, 'POST', '/tokens', { name: tokenName });
    assert.equal(token.status, 201, JSON.stringify(token.json));
    secrets.push((token.json as { token: string }).token);
    const tokens = await api(edge, aliceToken, 'GET', '/tokens');
    assert.ok((tokens.json as { name: string }[]).some((t) => t.name === tokenName), 'the name comes back exactly');
    assert.equal((await api(edge, aliceToken, 'GET', '/sockets')).status, 200, 'the sockets table is intact');
  });

  it('escapes hostile names and emails on the 403 page', async () => {
    for (const login of ['nomail', 'outsider']) {
      const last = await signIn(login);
      assert.equal(last.status, 403);
      assert.doesNotMatch(last.body, /<script>alert|<img src=x/, `${login}: no markup from claims`);
      assert.doesNotMatch(last.body, /\u001b|\r\n\{"level"/, `${login}: no control characters`);
    }
    const outsider = await signIn('outsider');
    assert.match(outsider.body, /o(&#39;|&#x27;|&apos;)hara@outsider\.test/, 'the email, escaped');
  });

  it('prints no escape sequence a stranger chose when the socket owner reads the audit log', async () => {
    const res = await runCli(['audit', '--limit', '1000'], { POSTERN_EDGE: edge.url, POSTERN_TOKEN: aliceToken });
    assert.equal(res.code, 0, res.stderr.join('\n'));
    const text = res.stdout.join('\n');
    assert.match(text, /access\.denied/, 'the denials are listed');
    assert.doesNotMatch(text, /[\u0000-\u0008\u000b-\u001f\u007f-\u009f]/, 'no control characters reach the terminal');
    const json = await runCli(['audit', '--json', '--limit', '1000'], { POSTERN_EDGE: edge.url, POSTERN_TOKEN: aliceToken });
    const events = JSON.parse(json.stdout.join('\n')) as { actor: string | null }[];
    assert.ok(events.some((e) => e.actor?.includes(HOSTILE.nomail!.login)), 'the JSON output keeps the exact value');
  });

  it('logs one JSON line per event, control characters escaped', () => {
    const lines = edge.proc.stdoutLines.filter((l) => l.trim() !== '');
    assert.ok(lines.length > 20, `${lines.length} log lines`);
    for (const line of lines) {
      assert.doesNotMatch(line, /[\u0000-\u001f\u007f]/, `a raw control character in a log line: ${JSON.stringify(line.slice(0, 200))}`);
      const parsed: unknown = JSON.parse(line);
      assert.equal(typeof parsed, 'object', line.slice(0, 200));
    }
    assert.ok(!lines.some((l) => l.startsWith('{"level":60')), 'no forged line');
    assert.ok(lines.some((l) => l.includes('\\u001b[2J')), 'the hostile subject was logged, escaped');
  });

  // Query strings carry OAuth codes and states and handoff nonces: the access log writes paths only.
  it('logs no secret: no token, cookie value, one-time code or nonce', () => {
    const lines = edge.proc.stdoutLines;
    for (const secret of secrets.filter((s) => s.length >= 16)) {
      const leaked = lines.find((l) => l.includes(secret));
      assert.equal(leaked, undefined, `a secret (${secret.slice(0, 6)}…) in the log: ${leaked?.slice(0, 200)}`);
    }
  });
});
