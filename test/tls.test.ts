import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { X509Certificate } from 'node:crypto';
import { join } from 'node:path';
import { connect as tlsConnect, type PeerCertificate } from 'node:tls';
import { after, before, describe, it } from 'node:test';
import { issueServerCert, makeTestCa, type ServerCert } from './lib/certs.js';
import { nextMessage, openWebSocket, rawHttp, request, tlsClientOptions } from './lib/http.js';
import { Origin } from './lib/origin.js';
import {
  CLI,
  ConnectorProcess,
  EdgeProcess,
  REPO_ROOT,
  api,
  cleanEnv,
  createAccount,
  freePort,
  makeTempDir,
  runCli,
  type EdgeLogLine,
  type SocketView,
} from './lib/postern.js';
import { ManagedProcess, killAll } from './lib/process.js';
import { roundTrip, sha256, startEchoServer } from './lib/tcp.js';
import { pollUntil, withTimeout } from './lib/wait.js';

const YEAR = 'max-age=31536000';
const NAMES = ['localhost', '*.localhost', 'IP:127.0.0.1'];

/** Non-blank lines: a refusal must be exactly one line. */
const lines = (text: string[]): string[] => text.filter((l) => l.trim() !== '');

/** The certificate a fresh TLS connection to 127.0.0.1:port is served, and the TLS version. */
function servedCert(port: number, ca: string, options: { maxVersion?: 'TLSv1.2' } = {}): Promise<{ cert: PeerCertificate; protocol: string | null }> {
  return withTimeout(
    new Promise((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, ...tlsClientOptions('localhost', ca), ...options }, () => {
        resolve({ cert: socket.getPeerCertificate(), protocol: socket.getProtocol() });
        socket.end();
      });
      socket.on('error', reject);
    }),
    10_000,
    'a TLS handshake',
  );
}

const fingerprintOf = (cert: ServerCert): string => new X509Certificate(readFileSync(cert.certFile)).fingerprint256;

describe('tls: the edge serves HTTPS itself', () => {
  const tmp = makeTempDir('tls');
  const ca = makeTestCa(tmp.dir);
  const first = issueServerCert(ca, 'first', NAMES, '1a01');
  const second = issueServerCert(ca, 'second', NAMES, '1b02');
  const other = issueServerCert(ca, 'other', NAMES, '1c03');
  /** The paths the edge reads; a renewal replaces their contents, as certbot does. */
  const live = { certFile: join(tmp.dir, 'live-cert.pem'), keyFile: join(tmp.dir, 'live-key.pem') };
  const install = (cert: ServerCert) => {
    copyFileSync(cert.certFile, live.certFile);
    copyFileSync(cert.keyFile, live.keyFile);
  };
  let edge: EdgeProcess;
  let origin: Origin;
  let token: string;
  let conn: ConnectorProcess;
  let redirectPort: number;
  const get = (path: string, options: { host?: string; headers?: Record<string, string>; localAddress?: string } = {}) =>
    request({ port: edge.port, host: options.host ?? conn.publicHost, path, headers: options.headers, localAddress: options.localAddress, ca: ca.caPem });

  before(async () => {
    install(first);
    origin = await Origin.start();
    const db = join(tmp.dir, 'edge.db');
    token = await createAccount(db, 'alice@example.com');
    redirectPort = await freePort();
    edge = await EdgeProcess.start({
      db,
      tls: { ...live, caFile: ca.caFile, caPem: ca.caPem },
      extraArgs: ['--http-redirect-listen', `127.0.0.1:${redirectPort}`, '--trusted-proxy', '127.0.0.2/32'],
    });
    // The connector trusts the test CA through NODE_EXTRA_CA_CERTS (EdgeProcess.clientEnv).
    conn = await ConnectorProcess.start({ edge, token, appPort: origin.port, args: ['--name', 'web'] });
  });

  after(async () => {
    await killAll();
    await origin?.close();
    tmp.remove();
  });

  it('serves the app over HTTPS to a connector dialled over wss, with the full chain and modern TLS only', async () => {
    assert.match(conn.ready!.url, new RegExp(`^https://web-[a-z0-9-]+\\.localhost:${edge.port}$`), 'socket URLs say https by themselves');
    const res = await get('/hello');
    assert.equal(res.status, 200);
    assert.equal(res.body.toString(), 'hello from origin');
    const served = await servedCert(edge.port, ca.caPem);
    assert.equal(served.cert.fingerprint256, fingerprintOf(first));
    assert.equal(served.protocol, 'TLSv1.3');
    assert.equal((await servedCert(edge.port, ca.caPem, { maxVersion: 'TLSv1.2' })).protocol, 'TLSv1.2');
    // The client trusts only the root: the handshake succeeding proves the intermediate was sent.
    assert.equal(served.cert.issuer.CN, 'Postern test intermediate');
    const old = new Promise<string>((resolve) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: edge.port, ...tlsClientOptions('localhost', ca.caPem), minVersion: 'TLSv1', maxVersion: 'TLSv1.1', ciphers: 'DEFAULT@SECLEVEL=0' });
      socket.on('secureConnect', () => resolve('connected'));
      socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? err.message));
    });
    assert.equal(await withTimeout(old, 10_000, 'a TLS 1.1 handshake'), 'ERR_SSL_TLSV1_ALERT_PROTOCOL_VERSION', 'the edge refuses TLS 1.1');
  });

  it('carries the app\'s WebSocket over wss', async () => {
    const ws = await openWebSocket(edge.port, conn.publicHost, '/ws', { origin: `https://${conn.publicHost}` }, 10_000, ca.caPem);
    ws.send('over tls');
    assert.equal((await nextMessage(ws)).data.toString(), 'over tls');
    ws.close();
  });

  it('sends HSTS on every HTTPS answer of its names: includeSubDomains on its own host only, the app\'s own policy replaced', async () => {
    const app = await get('/hello');
    assert.equal(app.headers['strict-transport-security'], YEAR);
    const appOwn = await get('/hsts');
    assert.equal(appOwn.body.toString(), 'own policy');
    assert.equal(appOwn.headers['strict-transport-security'], YEAR, 'the app\'s max-age=5; preload is replaced by the edge\'s');
    const own = await get('/healthz', { host: edge.domain });
    assert.equal(own.status, 200);
    assert.equal(own.headers['strict-transport-security'], `${YEAR}; includeSubDomains`);
    const ownError = await get('/no/such/page', { host: edge.domain });
    assert.equal(ownError.status, 404);
    assert.equal(ownError.headers['strict-transport-security'], `${YEAR}; includeSubDomains`, 'error pages too');
    const noSocket = await get('/', { host: `nothing-here.localhost:${edge.port}` });
    assert.equal(noSocket.status, 404);
    assert.equal(noSocket.headers['strict-transport-security'], YEAR);
    const foreign = await request({ port: edge.port, host: 'elsewhere.example', servername: 'localhost', ca: ca.caPem });
    assert.equal(foreign.headers['strict-transport-security'], undefined, 'names that are not the edge\'s get no policy');
  });

  it('redirects plain HTTP to https for its own names only, never through a foreign Host', async () => {
    const plain = (host: string, path = '/') => request({ port: redirectPort, host, path });
    const ownRes = await plain(`localhost:${redirectPort}`, '/auth/login?rd=%2Fx&y=1');
    assert.equal(ownRes.status, 308);
    assert.equal(ownRes.headers.location, `https://localhost:${edge.port}/auth/login?rd=%2Fx&y=1`);
    assert.equal(ownRes.headers['strict-transport-security'], undefined, 'no HSTS over plain HTTP');
    const socketRes = await plain(conn.publicHost.replace(/:\d+$/, ''), '//double/slash');
    assert.equal(socketRes.status, 308);
    assert.equal(socketRes.headers.location, `https://${conn.publicHost}//double/slash`);
    for (const host of ['evil.example', 'localhost.evil.example', 'evil.example:443', 'a.b.localhost', 'xlocalhost', '-bad.localhost', 'evil.example@localhost']) {
      const res = await plain(host, '/x');
      assert.ok(res.status === 400 || res.status === 404, `${host}: ${res.status}`);
      assert.equal(res.headers.location, undefined, `${host} gets no redirect`);
    }
    const absolute = await rawHttp(redirectPort, `GET http://evil.example/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`);
    assert.equal(absolute.status, 400, absolute.head);
    assert.doesNotMatch(absolute.head, /location:/i);
    const noHost = await rawHttp(redirectPort, 'GET / HTTP/1.0\r\n\r\n');
    assert.equal(noHost.status, 400, noHost.head);
  });

  it('believes X-Forwarded-For only from a trusted proxy, taking its rightmost untrusted address', async () => {
    const seen = async (localAddress: string, xff: string) => {
      const res = await get('/headers', { localAddress, headers: { 'x-forwarded-for': xff, 'x-forwarded-proto': 'http' } });
      assert.equal(res.status, 200);
      return (JSON.parse(res.body.toString()) as { headers: Record<string, string> }).headers;
    };
    const viaTrusted = await seen('127.0.0.2', '203.0.113.7');
    assert.equal(viaTrusted['x-forwarded-for'], '203.0.113.7');
    assert.equal(viaTrusted['x-forwarded-proto'], 'https', 'a direct TLS connection is https whatever a header says');
    assert.equal((await seen('127.0.0.2', '198.51.100.1, 203.0.113.7'))['x-forwarded-for'], '203.0.113.7', 'client-written entries on the left are ignored');
    assert.equal((await seen('127.0.0.2', '203.0.113.7, 127.0.0.2'))['x-forwarded-for'], '203.0.113.7', 'trusted hops are skipped');
    assert.equal((await seen('127.0.0.2', 'not-an-ip'))['x-forwarded-for'], '127.0.0.2', 'garbage ends the walk at the last trusted hop');
    assert.equal((await seen('127.0.0.1', '203.0.113.7'))['x-forwarded-for'], '127.0.0.1', 'an untrusted peer\'s header is ignored');
  });

  it('records the forwarded client address in the audit log, only from a trusted proxy', async () => {
    const createToken = async (name: string, localAddress: string) => {
      const res = await request({
        port: edge.port,
        host: edge.domain,
        method: 'POST',
        path: '/api/v1/tokens',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-forwarded-for': '203.0.113.7' },
        body: Buffer.from(JSON.stringify({ name })),
        localAddress,
        ca: ca.caPem,
      });
      assert.equal(res.status, 201, res.body.toString());
    };
    await createToken('via-proxy', '127.0.0.2');
    await createToken('direct', '127.0.0.1');
    const audit = (await api(edge, token, 'GET', '/audit?limit=100')).json as { type: string; remote: string | null; detail: { name?: string } }[];
    const remoteOf = (name: string) => audit.find((e) => e.type === 'token.create' && e.detail.name === name)?.remote;
    assert.equal(remoteOf('via-proxy'), '203.0.113.7');
    assert.equal(remoteOf('direct'), '127.0.0.1');
  });

  it('carries a TCP socket over wss (postern tcp trusting the CA)', { timeout: 60_000 }, async () => {
    const echo = await startEchoServer();
    try {
      const created = await api(edge, token, 'POST', '/sockets', { name: 'echo', protocol: 'tcp', ephemeral: false });
      assert.equal(created.status, 201, JSON.stringify(created.json));
      const socket = created.json as SocketView;
      await ConnectorProcess.startServing({ edge, token, appPort: echo.port, socket, label: 'connect:echo' });
      const listener = new ManagedProcess(
        'tcp:echo',
        process.execPath,
        [CLI, 'tcp', '--socket', socket.hostname.split('.')[0]!, '--listen', '127.0.0.1:0', '--json'],
        cleanEnv({ POSTERN_EDGE: edge.url, POSTERN_TOKEN: token, ...edge.clientEnv }),
      );
      const line = await listener.waitForLine((l, stream) => stream === 'stdout' && l.includes('"listening"'), 15_000, 'the listening line');
      const address = String((JSON.parse(line) as { address: string }).address);
      const data = Buffer.from('x'.repeat(200_000));
      const echoed = await roundTrip(Number(address.slice(address.lastIndexOf(':') + 1)), data);
      assert.equal(sha256(echoed), sha256(data));
      await listener.stop();
    } finally {
      await echo.close();
    }
  });

  it('tells a CLI without the CA that the certificate is not trusted, in one line', async () => {
    const res = await runCli(['socket', 'ls'], { POSTERN_EDGE: edge.url, POSTERN_TOKEN: token });
    assert.equal(res.code, 1);
    assert.equal(lines(res.stderr).length, 1, res.stderr.join('\n'));
    assert.match(res.stderr[0]!, /cannot reach the edge at https:\/\/localhost:\d+: the edge's TLS certificate is not trusted \([A-Z_]+\); for a private CA start with NODE_EXTRA_CA_CERTS=/);
    const trusted = await runCli(['socket', 'ls'], { POSTERN_EDGE: edge.url, POSTERN_TOKEN: token, ...edge.clientEnv });
    assert.equal(trusted.code, 0, trusted.stderr.join('\n'));
  });

  it('swaps to a renewed certificate on SIGHUP while open tunnels and WebSockets stay up; a bad pair keeps the old one', { timeout: 60_000 }, async () => {
    const tunnelEvents = () => edge.logs().filter((l) => l.msg === 'tunnel connected' || l.msg === 'tunnel disconnected').length;
    const logged = (match: (l: EdgeLogLine) => boolean) => edge.logs().filter(match).length;
    const reloaded = (l: EdgeLogLine) => l.msg === 'tls certificate reloaded';
    const errors = (l: EdgeLogLine) => (l.level ?? 0) >= 50;
    const ws = await openWebSocket(edge.port, conn.publicHost, '/ws', { origin: `https://${conn.publicHost}` }, 10_000, ca.caPem);
    const tunnelsBefore = tunnelEvents();
    const reloadsBefore = logged(reloaded);

    install(second);
    edge.proc.signal('SIGHUP');
    await pollUntil(async () => (logged(reloaded) > reloadsBefore ? true : undefined), { timeoutMs: 10_000, what: 'the reload log line' });
    assert.equal((await servedCert(edge.port, ca.caPem)).cert.fingerprint256, fingerprintOf(second), 'new connections get the renewed certificate');
    assert.equal(fingerprintOf(second) === fingerprintOf(first), false);
    ws.send('still here');
    assert.equal((await nextMessage(ws)).data.toString(), 'still here', 'a WebSocket opened before the reload keeps working');
    assert.equal((await get('/hello')).status, 200, 'the tunnel still carries requests');
    assert.equal(tunnelEvents(), tunnelsBefore, 'no tunnel dropped or reconnected');

    // A key that is not the certificate's (a half-finished renewal): logged once, the old pair stays.
    const errorsBefore = logged(errors);
    copyFileSync(other.keyFile, live.keyFile);
    edge.proc.signal('SIGHUP');
    await pollUntil(async () => (logged(errors) > errorsBefore ? true : undefined), { timeoutMs: 10_000, what: 'the reload error' });
    const failure = edge.logs().filter(errors).slice(errorsBefore);
    assert.equal(failure.length, 1, JSON.stringify(failure));
    assert.match(String(failure[0]!.msg), /^tls certificate not reloaded, the previous one stays in use: --tls-key .* does not belong to the certificate/);
    assert.equal((await servedCert(edge.port, ca.caPem)).cert.fingerprint256, fingerprintOf(second));
    writeFileSync(live.certFile, 'not a certificate');
    edge.proc.signal('SIGHUP');
    await pollUntil(async () => (logged(errors) > errorsBefore + 1 ? true : undefined), { timeoutMs: 10_000, what: 'the second reload error' });
    assert.match(String(edge.logs().filter(errors).at(-1)!.msg), /holds no PEM certificate/);
    assert.equal((await get('/hello')).status, 200);
    assert.equal(edge.proc.running, true);
    ws.close();
  });
});

describe('tls: certificate files the edge refuses at start', () => {
  const tmp = makeTempDir('tls-bad');
  const ca = makeTestCa(tmp.dir);
  const good = issueServerCert(ca, 'good', NAMES, '2a01');
  const otherKey = issueServerCert(ca, 'other', NAMES, '2b02').keyFile;
  const notPem = join(tmp.dir, 'not.pem');
  writeFileSync(notPem, 'hello\n');
  after(() => tmp.remove());

  for (const [what, cert, key, message] of [
    ['a missing certificate', join(tmp.dir, 'missing.pem'), good.keyFile, /^error: cannot read --tls-cert .*missing\.pem: ENOENT$/],
    ['a missing key', good.certFile, join(tmp.dir, 'missing.key'), /^error: cannot read --tls-key .*missing\.key: ENOENT$/],
    ['a file that is no certificate', notPem, good.keyFile, /^error: --tls-cert .*not\.pem holds no PEM certificate$/],
    ['a file that is no key', good.certFile, notPem, /^error: --tls-key .*not\.pem holds no PEM private key/],
    ['a key of another certificate', good.certFile, otherKey, /^error: --tls-key .*other\.key does not belong to the certificate in --tls-cert .*good\.fullchain\.pem$/],
  ] as const) {
    it(`${what}: one line, exit 1, nothing created`, async () => {
      const db = join(tmp.dir, `${what.replace(/\W+/g, '-')}.db`);
      const res = await runCli(['edge', '--listen', '127.0.0.1:0', '--db', db, '--tls-cert', cert, '--tls-key', key]);
      assert.equal(res.code, 1, res.stderr.join('\n'));
      assert.equal(lines(res.stderr).length, 1, res.stderr.join('\n'));
      assert.match(res.stderr[0]!, message);
      assert.equal(existsSync(db), false, 'the database is not created');
    });
  }

  it('--tls-cert without --tls-key, and --public-scheme http with TLS, are refused', async () => {
    const alone = await runCli(['edge', '--tls-cert', good.certFile, '--print-config']);
    assert.equal(alone.code, 1);
    assert.deepEqual(lines(alone.stderr), ['error: --tls-cert needs --tls-key (the PEM private key)']);
    const contradiction = await runCli(['edge', '--tls-cert', good.certFile, '--tls-key', good.keyFile, '--public-scheme', 'http', '--print-config']);
    assert.equal(contradiction.code, 1);
    assert.match(lines(contradiction.stderr).join('\n'), /^error: --public-scheme http contradicts --tls-cert/);
  });
});

describe('tls: the example edge configs in deploy/', () => {
  const tmp = makeTempDir('deploy-configs');
  const secret = join(tmp.dir, 'oidc-secret');
  writeFileSync(secret, 'not-a-real-secret\n');
  after(() => tmp.remove());
  // Their OIDC secret path exists only under systemd: the flags stand in for the `oidc` list.
  const oidcFlags = ['--oidc-issuer', 'https://login.example.com', '--oidc-client-id', 'postern', '--oidc-client-secret-file', secret];

  it('deploy/edge.yaml: TLS on the edge, redirect listener, HSTS', async () => {
    const res = await runCli(['edge', '--config', join(REPO_ROOT, 'deploy', 'edge.yaml'), ...oidcFlags, '--print-config']);
    assert.equal(res.code, 0, res.stderr.join('\n'));
    const printed = res.stdout.join('\n');
    for (const line of ['listen: "[::]:443"', 'public_scheme: https', 'tls_cert: /etc/postern/tls/fullchain.pem', 'tls_key: /etc/postern/tls/privkey.pem', 'http_redirect_listen: "[::]:80"', 'hsts_max_age: 365d']) {
      assert.ok(printed.includes(line), `${line} in\n${printed}`);
    }
  });

  it('deploy/edge-behind-nginx.yaml: plain HTTP on loopback, https in public, nginx trusted', async () => {
    const res = await runCli(['edge', '--config', join(REPO_ROOT, 'deploy', 'edge-behind-nginx.yaml'), ...oidcFlags, '--print-config']);
    assert.equal(res.code, 0, res.stderr.join('\n'));
    const printed = res.stdout.join('\n');
    for (const line of ['listen: 127.0.0.1:8080', 'public_scheme: https', 'trusted_proxies:\n  - 127.0.0.1/32\n  - ::1/128']) {
      assert.ok(printed.includes(line), `${line} in\n${printed}`);
    }
    assert.doesNotMatch(printed, /tls_cert/);
  });
});

const NGINX = '/usr/sbin/nginx';

/**
 * The nginx recipe of docs/DEPLOY.md (deploy/nginx/postern.conf) with test names, ports and
 * certificate paths, wrapped in a minimal nginx.conf that keeps every file under `prefix`.
 */
function nginxConfig(prefix: string, ports: { http: number; https: number; edge: number }, cert: ServerCert): string {
  const file = readFileSync(join(REPO_ROOT, 'deploy', 'nginx', 'postern.conf'), 'utf8');
  const shown = /```nginx\n([\s\S]*?)```/.exec(readFileSync(join(REPO_ROOT, 'docs', 'DEPLOY.md'), 'utf8'))?.[1];
  assert.equal(shown, file, 'docs/DEPLOY.md shows deploy/nginx/postern.conf verbatim');
  const recipe = file
    .split('\n')
    .filter((line) => !/^\s*(#|listen \[::\])/.test(line)) // comments out; loopback IPv4 only here
    .join('\n')
    .replaceAll('edge.example.com', 'localhost')
    .replaceAll('/etc/letsencrypt/live/localhost/fullchain.pem', cert.certFile)
    .replaceAll('/etc/letsencrypt/live/localhost/privkey.pem', cert.keyFile)
    .replace(/listen 80( |;)/g, `listen 127.0.0.1:${ports.http}$1`)
    .replace(/listen 443 /g, `listen 127.0.0.1:${ports.https} `)
    .replace('server 127.0.0.1:8080;', `server 127.0.0.1:${ports.edge};`);
  assert.doesNotMatch(recipe, /example\.com|letsencrypt|:8080|listen (80|443)\b/, 'every production value was replaced');
  const temp = (name: string) => `${name}_temp_path ${join(prefix, name)};`;
  return [
    `pid ${join(prefix, 'nginx.pid')};`,
    `error_log ${join(prefix, 'error.log')} warn;`,
    // One process: a worker outlives a SIGKILLed master and would hold the test's pipes open.
    'master_process off;',
    'events { worker_connections 256; }',
    'http {',
    `  access_log off;`,
    `  ${temp('client_body')} ${temp('proxy')} ${temp('fastcgi')} ${temp('uwsgi')} ${temp('scgi')}`,
    recipe,
    '}',
  ].join('\n');
}

describe('tls: behind nginx (the docs/DEPLOY.md recipe), the edge on plain HTTP', { skip: existsSync(NGINX) ? false : `${NGINX} is not installed (CI installs nginx-light)` }, () => {
  const tmp = makeTempDir('nginx');
  let edge: EdgeProcess;
  let origin: Origin;
  let nginx: ManagedProcess;
  let conn: ConnectorProcess;
  let ports: { http: number; https: number; edge: number };
  let caPem: string;

  before(async () => {
    const ca = makeTestCa(tmp.dir);
    caPem = ca.caPem;
    const cert = issueServerCert(ca, 'nginx', NAMES, '3a01');
    ports = { http: await freePort(), https: await freePort(), edge: await freePort() };
    const conf = join(tmp.dir, 'nginx.conf');
    writeFileSync(conf, nginxConfig(tmp.dir, ports, cert));
    origin = await Origin.start();
    const db = join(tmp.dir, 'edge.db');
    const token = await createAccount(db, 'alice@example.com');
    edge = await EdgeProcess.start({
      db,
      port: ports.edge,
      front: { port: ports.https, ca },
      extraArgs: ['--public-scheme', 'https', '--trusted-proxy', '127.0.0.1/32'],
    });
    // -e: the start-up error log too stays under the prefix (the built-in one is /var/log/nginx).
    const args = ['-p', tmp.dir, '-e', join(tmp.dir, 'error.log'), '-c', conf];
    const check = new ManagedProcess('nginx -t', NGINX, ['-t', ...args], cleanEnv());
    assert.equal((await check.waitExit(15_000)).code, 0, `nginx -t accepts the recipe\n${check.output()}`);
    nginx = new ManagedProcess('nginx', NGINX, [...args, '-g', 'daemon off;'], cleanEnv());
    await pollUntil(async () => (await servedCert(ports.https, caPem)).cert.fingerprint256 ? true : undefined, {
      timeoutMs: 15_000,
      what: () => `nginx to serve TLS\n${nginx.output()}\n${existsSync(join(tmp.dir, 'error.log')) ? readFileSync(join(tmp.dir, 'error.log'), 'utf8') : ''}`,
    });
    conn = await ConnectorProcess.start({ edge, token, appPort: origin.port, args: ['--name', 'web'] });
  });

  after(async () => {
    await nginx?.stop('SIGQUIT', 10_000).catch(() => undefined);
    await killAll();
    await origin?.close();
    tmp.remove();
  });

  const viaNginx = (path: string, options: { host?: string; localAddress?: string; headers?: Record<string, string> } = {}) =>
    request({ port: ports.https, host: options.host ?? conn.publicHost, path, localAddress: options.localAddress, headers: options.headers, ca: caPem });

  it('carries the tunnel (wss through nginx) and a request; the app sees the client\'s own address', async () => {
    assert.match(conn.ready!.url, new RegExp(`^https://web-[a-z0-9-]+\\.localhost:${ports.https}$`));
    const hello = await viaNginx('/hello');
    assert.equal(hello.status, 200);
    assert.equal(hello.body.toString(), 'hello from origin');
    assert.equal(hello.headers['strict-transport-security'], YEAR, 'HSTS when TLS ends at a trusted proxy');
    const res = await viaNginx('/headers', { localAddress: '127.0.0.3', headers: { 'x-forwarded-for': '198.51.100.66' } });
    const { headers } = JSON.parse(res.body.toString()) as { headers: Record<string, string> };
    assert.equal(headers['x-forwarded-for'], '127.0.0.3', 'the address nginx saw, not the one the client wrote');
    assert.equal(headers['x-forwarded-proto'], 'https');
    assert.equal(headers['x-forwarded-host'], conn.publicHost);
  });

  it('carries the app\'s WebSocket through nginx', async () => {
    const ws = await openWebSocket(ports.https, conn.publicHost, '/ws', { origin: `https://${conn.publicHost}` }, 10_000, caPem);
    ws.send('through nginx');
    assert.equal((await nextMessage(ws)).data.toString(), 'through nginx');
    ws.close();
  });

  it('redirects its own names from port 80 and refuses others', async () => {
    const own = await request({ port: ports.http, host: conn.publicHost.replace(/:\d+$/, ''), path: '/a?b=1' });
    assert.equal(own.status, 308);
    assert.equal(own.headers.location, `https://${conn.publicHost.replace(/:\d+$/, '')}/a?b=1`);
    await assert.rejects(request({ port: ports.http, host: 'evil.example', path: '/' }), 'nginx closes the connection (444) for foreign names');
  });
});
