import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import type { IncomingHttpHeaders } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CliUser } from './lib/cli-user.js';
import { request, type Response } from './lib/http.js';
import { createAccount, EdgeProcess, makeTempDir, runCli, type EdgeLogLine } from './lib/postern.js';
import { killAll } from './lib/process.js';
import { sleep } from './lib/wait.js';
import { WebClient, type Hop } from './lib/web-client.js';

/**
 * Rate limits of the sign-in flows and the API, against a real edge started with small limits.
 * Every 127.0.0.0/8 address is a different client to the edge: each case binds its requests to
 * addresses of its own (`localAddress`), so the cases do not share buckets.
 */

const PASSWORD = 'correct horse battery staple 42';
/** Windows of 10 minutes: no token comes back while a case runs, so counts are exact. */
const LIMITS = {
  '--rate-login-per-email': '3/10m',
  '--rate-login-per-address': '5/10m',
  '--rate-signin-per-address': '4/10m',
  '--rate-device-code-per-address': '3/10m',
  '--rate-device-approve-per-session': '3/10m',
  '--rate-api-per-account': '5/10m',
  '--rate-api-bad-token-per-address': '3/10m',
};

const retryAfter = (headers: IncomingHttpHeaders): number => {
  const value = Number(headers['retry-after']);
  assert.ok(Number.isInteger(value) && value >= 1, `a Retry-After in whole seconds, got ${String(headers['retry-after'])}`);
  return value;
};

const jsonError = (res: Response): { code: string; message: string } => (JSON.parse(res.body.toString('utf8')) as { error: { code: string; message: string } }).error;

const txOf = (hop: Hop): string => /name="tx" value="([^"]+)"/.exec(hop.body)?.[1] ?? assert.fail(`no sign-in form in ${hop.status} ${hop.url}:\n${hop.body.slice(0, 500)}`);

const loginCookie = (hop: Hop) => hop.setCookies.find((c) => c.startsWith('postern_login='));

describe('rate limits (real edge, small limits)', () => {
  const tmp = makeTempDir('rate-limits');
  const db = join(tmp.dir, 'edge.db');
  let edge: EdgeProcess;
  let aliceToken: string;
  let daveToken: string;

  before(async () => {
    const passwordFile = join(tmp.dir, 'password');
    writeFileSync(passwordFile, `${PASSWORD}\n`, { mode: 0o600 });
    for (const email of ['bob@example.com', 'carol@example.com']) {
      const added = await runCli(['admin', 'user', 'add', email, '--password-file', passwordFile, '--db', db]);
      assert.equal(added.code, 0, added.stderr.join('\n'));
    }
    aliceToken = await createAccount(db, 'alice@example.com');
    daveToken = await createAccount(db, 'dave@example.com');
    edge = await EdgeProcess.start({ db, extraArgs: ['--local-accounts', ...Object.entries(LIMITS).flat()] });
  });

  after(async () => {
    await edge?.stop().catch(() => undefined);
    await killAll();
    tmp.remove();
  });

  /** A browser on its own address, holding a fresh local sign-in form (one sign-in start). */
  async function signInForm(address: string): Promise<{ client: WebClient; tx: string }> {
    const client = new WebClient(`browser@${address}`, address);
    const form = await client.fetch(`${edge.url}/auth/start/local`);
    assert.equal(form.status, 200, form.body);
    return { client, tx: txOf(form) };
  }

  /** Posts the sign-in form; the answer (401, 429) carries the form again with its next transaction. */
  const submit = (client: WebClient, tx: string, email: string, password: string) => client.fetch(`${edge.url}/auth/local`, { form: { tx, email, password } });

  const api = (address: string, path: string, token: string | null, method = 'GET') =>
    request({
      port: edge.port,
      host: edge.domain,
      method,
      path: `/api/v1${path}`,
      localAddress: address,
      headers: { accept: 'application/json', ...(token === null ? {} : { authorization: `Bearer ${token}` }) },
    });

  it('failed sign-ins per email: the next attempt is refused with 429, even with the right password, from any address', async () => {
    let { client, tx } = await signInForm('127.0.0.11');
    for (let i = 1; i <= 3; i++) {
      const wrong = await submit(client, tx, 'bob@example.com', `wrong password ${i}`);
      assert.equal(wrong.status, 401, `failure ${i} is an ordinary wrong password`);
      tx = txOf(wrong);
    }
    const limited = await submit(client, tx, 'bob@example.com', PASSWORD);
    assert.equal(limited.status, 429, 'the right password is refused while the account is limited (no oracle)');
    const wait = retryAfter(limited.headers);
    assert.ok(wait <= 200, `one attempt comes back every 10m/3: ${wait}`);
    assert.match(limited.body, /Too many failed sign-in attempts for this account\. For its safety, sign-in is paused: try again in \d+ minutes?\./);
    assert.match(String(limited.headers['content-type']), /^text\/html/);
    assert.equal(loginCookie(limited), undefined, 'no session');
    tx = txOf(limited);
    for (let i = 0; i < 3; i++) {
      const again = await submit(client, tx, 'bob@example.com', PASSWORD);
      assert.equal(again.status, 429);
      tx = txOf(again);
    }

    const elsewhere = await signInForm('127.0.0.12');
    const fromElsewhere = await submit(elsewhere.client, elsewhere.tx, 'bob@example.com', PASSWORD);
    assert.equal(fromElsewhere.status, 429, 'the limit follows the account, not the address');
    assert.equal(loginCookie(fromElsewhere), undefined);

    const carol = await submit(client, tx, 'carol@example.com', PASSWORD);
    assert.equal(carol.status, 302, `another account signs in from the same address: ${carol.body.slice(0, 300)}`);
    assert.ok(loginCookie(carol), 'carol gets a session');
  });

  it('failed sign-ins per address: credential stuffing is refused at the limit; other addresses are unaffected', async () => {
    let { client, tx } = await signInForm('127.0.0.13');
    for (let i = 1; i <= 5; i++) {
      const wrong = await submit(client, tx, `stuffed-${i}@example.com`, 'password123');
      assert.equal(wrong.status, 401, `failure ${i}`);
      tx = txOf(wrong);
    }
    const limited = await submit(client, tx, 'carol@example.com', PASSWORD);
    assert.equal(limited.status, 429, 'a right password from the limited address is refused too');
    retryAfter(limited.headers);
    assert.match(limited.body, /Too many failed sign-in attempts from your network\. Sign-in is paused: try again in/);
    assert.equal(loginCookie(limited), undefined);
    const again = await submit(client, txOf(limited), 'carol@example.com', PASSWORD);
    assert.equal(again.status, 429);

    const other = await signInForm('127.0.0.14');
    const carol = await submit(other.client, other.tx, 'carol@example.com', PASSWORD);
    assert.equal(carol.status, 302, 'another address signs in');
    assert.ok(loginCookie(carol));
  });

  it('successful sign-ins do not count', async () => {
    // Five successes for one account (from five addresses): more than its limit of three failures.
    for (let i = 1; i <= 5; i++) {
      const { client, tx } = await signInForm(`127.0.1.${i}`);
      assert.equal((await submit(client, tx, 'carol@example.com', PASSWORD)).status, 302, `success ${i}`);
    }
    // From one address: three successes, then still its whole budget of five failures.
    for (let i = 1; i <= 3; i++) {
      const { client, tx } = await signInForm('127.0.0.30');
      assert.equal((await submit(client, tx, 'carol@example.com', PASSWORD)).status, 302, `success ${i} from one address`);
    }
    let { client, tx } = await signInForm('127.0.0.30');
    for (let i = 1; i <= 5; i++) {
      const wrong = await submit(client, tx, `nobody-${i}@example.com`, 'not the password');
      assert.equal(wrong.status, 401, `failure ${i} after three successes`);
      tx = txOf(wrong);
    }
  });

  it('sign-in starts per address: 429 with the error page (JSON for programs); other addresses are unaffected', async () => {
    const client = new WebClient('starter', '127.0.0.15');
    for (let i = 1; i <= 4; i++) {
      const start = await client.fetch(`${edge.url}/auth/start/local`);
      assert.equal(start.status, 200, `start ${i}`);
    }
    const limited = await client.fetch(`${edge.url}/auth/start/local`);
    assert.equal(limited.status, 429);
    retryAfter(limited.headers);
    assert.equal(limited.headers['postern-error'], 'RATE_LIMITED');
    assert.match(String(limited.headers['content-type']), /^text\/html/);
    assert.match(limited.body, /429 · RATE_LIMITED/);
    assert.match(limited.body, /Too many sign-ins were started from your network\. Please try again in \d+ minutes?\./);
    assert.equal(limited.setCookies.length, 0, 'no transaction was made');
    const program = await request({ port: edge.port, host: edge.domain, path: '/auth/start/local', localAddress: '127.0.0.15', headers: { accept: 'application/json' } });
    assert.equal(program.status, 429);
    retryAfter(program.headers);
    assert.equal(jsonError(program).code, 'RATE_LIMITED');

    const other = await new WebClient('other', '127.0.0.16').fetch(`${edge.url}/auth/start/local`);
    assert.equal(other.status, 200);
  });

  it('CLI sign-in starts (POST /api/v1/device/code) per address: JSON 429; other addresses are unaffected', async () => {
    const start = (address: string) =>
      request({
        port: edge.port,
        host: edge.domain,
        method: 'POST',
        path: '/api/v1/device/code',
        localAddress: address,
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: Buffer.from(JSON.stringify({ client_name: 'rate test' })),
      });
    for (let i = 1; i <= 3; i++) assert.equal((await start('127.0.0.17')).status, 200, `start ${i}`);
    for (let i = 0; i < 3; i++) {
      const limited = await start('127.0.0.17');
      assert.equal(limited.status, 429);
      retryAfter(limited.headers);
      assert.equal(limited.headers['postern-error'], 'RATE_LIMITED');
      assert.deepEqual(jsonError(limited), { code: 'RATE_LIMITED', message: jsonError(limited).message });
      assert.match(jsonError(limited).message, /^too many "postern login" requests from this address: try again in \d+ minutes?$/);
    }
    assert.equal((await start('127.0.0.18')).status, 200);
  });

  it('`postern login` over the limit says so in one error line', async () => {
    const user = new CliUser(join(tmp.dir, 'cli-user'));
    const start = () =>
      request({ port: edge.port, host: edge.domain, method: 'POST', path: '/api/v1/device/code', headers: { 'content-type': 'application/json' }, body: Buffer.from('{}') });
    for (let i = 1; i <= 3; i++) assert.equal((await start()).status, 200, `start ${i} from 127.0.0.1`);
    const line = await user.fails(['login', '--edge', edge.url]);
    assert.match(line, /too many "postern login" requests from this address: try again in \d+ minutes?/);
  });

  it('API requests per account: 429 at the limit; another account is unaffected', async () => {
    for (let i = 1; i <= 5; i++) assert.equal((await api('127.0.0.19', '/sockets', aliceToken)).status, 200, `request ${i}`);
    for (let i = 0; i < 3; i++) {
      const limited = await api('127.0.0.19', '/sockets', aliceToken);
      assert.equal(limited.status, 429);
      retryAfter(limited.headers);
      assert.equal(jsonError(limited).code, 'RATE_LIMITED');
      assert.match(jsonError(limited).message, /^too many API requests for this account: try again in/);
    }
    assert.equal((await api('127.0.0.29', '/sockets', aliceToken)).status, 429, 'the limit follows the account to other addresses');
    assert.equal((await api('127.0.0.19', '/sockets', daveToken)).status, 200, 'another account from the same address');
  });

  it('invalid tokens per address: then even a valid token is refused from there; other addresses are unaffected', async () => {
    const bad = ['pst_not-a-real-token-0000000000000000', null, 'garbage'];
    for (const [i, token] of bad.entries()) {
      const res = await api('127.0.0.20', '/sockets', token);
      assert.equal(res.status, 401, `bad token ${i + 1}`);
      assert.equal(jsonError(res).code, 'UNAUTHORIZED');
    }
    const limited = await api('127.0.0.20', '/sockets', daveToken);
    assert.equal(limited.status, 429, 'a valid token from a guessing address learns nothing');
    retryAfter(limited.headers);
    assert.match(jsonError(limited).message, /^too many requests with a missing or invalid token from this address: try again in/);
    for (let i = 0; i < 3; i++) assert.equal((await api('127.0.0.20', '/sockets', 'pst_another-guess-000000000000000000')).status, 429);
    assert.equal((await api('127.0.0.21', '/sockets', daveToken)).status, 200, 'another address');
    assert.equal((await api('127.0.0.21', '/sockets', 'garbage')).status, 401, 'another address still gets 401 for a bad token');
  });

  it('/device answers per session: 429 page at the limit; another session of the same person is unaffected', async () => {
    const signedIn = async (address: string): Promise<WebClient> => {
      const { client, tx } = await signInForm(address);
      assert.equal((await submit(client, tx, 'carol@example.com', PASSWORD)).status, 302);
      return client;
    };
    const answer = (client: WebClient, code: string) =>
      client.fetch(`${edge.url}/device`, { form: { user_code: code, decision: 'confirm' }, headers: { origin: edge.url } });
    const first = await signedIn('127.0.0.22');
    for (let i = 1; i <= 3; i++) {
      const unknown = await answer(first, 'BCDF-GHJK');
      assert.equal(unknown.status, 400, `guess ${i}: ${unknown.body.slice(0, 300)}`);
      assert.match(unknown.body, /That code is unknown, expired or already used/);
    }
    for (let i = 0; i < 3; i++) {
      const limited = await answer(first, 'BCDF-GHJL');
      assert.equal(limited.status, 429);
      retryAfter(limited.headers);
      assert.match(limited.body, /Too many sign-in codes were entered in this browser\. Please try again in \d+ minutes?\./);
    }
    const second = await signedIn('127.0.0.22');
    assert.equal((await answer(second, 'BCDF-GHJK')).status, 400, 'another session (same person, same address) is not limited');
  });

  it('logs each limited key once per window, as one warn line, whatever the number of refusals', () => {
    const lines = edge.logs().filter((l: EdgeLogLine) => l.msg === 'rate limit reached');
    const seen = new Map<string, number>();
    for (const line of lines) {
      assert.equal(line.level, 40, 'a warn line');
      const id = `${String(line.limit)} ${String(line.key)}`;
      seen.set(id, (seen.get(id) ?? 0) + 1);
    }
    for (const [id, count] of seen) assert.equal(count, 1, `${id} logged ${count} times`);
    for (const id of [
      'loginPerEmail bob@example.com',
      'loginPerAddress 127.0.0.13',
      'signinPerAddress 127.0.0.15',
      'deviceCodePerAddress 127.0.0.17',
      'deviceCodePerAddress 127.0.0.1',
      'apiBadTokenPerAddress 127.0.0.20',
    ]) {
      assert.ok(seen.has(id), `logged: ${id} (got ${[...seen.keys()].join(', ')})`);
    }
    const limits = new Set(lines.map((l) => l.limit));
    for (const limit of ['apiPerAccount', 'deviceApprovePerSession']) assert.ok(limits.has(limit), `logged: ${limit}`);
    assert.equal(lines.length, seen.size);
  });
});

describe('rate limits recover after the window', () => {
  const tmp = makeTempDir('rate-recover');
  const db = join(tmp.dir, 'edge.db');
  let edge: EdgeProcess;
  let token: string;

  before(async () => {
    token = await createAccount(db, 'erin@example.com');
    edge = await EdgeProcess.start({ db, extraArgs: ['--rate-api-bad-token-per-address', '2/4s'] });
  });

  after(async () => {
    await edge?.stop().catch(() => undefined);
    await killAll();
    tmp.remove();
  });

  const get = (bearer: string) =>
    request({ port: edge.port, host: edge.domain, path: '/api/v1/sockets', localAddress: '127.0.0.40', headers: { accept: 'application/json', authorization: `Bearer ${bearer}` } });

  it('a limited address gets through again once Retry-After has passed', async () => {
    // One guess comes back every 2 s: a bounded loop, not an exact count (that is the test above).
    let limited: Response | undefined;
    for (let i = 0; i < 10 && !limited; i++) {
      const res = await get('pst_guess-000000000000000000000000');
      if (res.status === 429) limited = res;
      else assert.equal(res.status, 401);
    }
    assert.ok(limited, 'refused within 10 guesses');
    assert.equal((await get(token)).status, 429, 'limited: even the valid token is refused');
    const wait = retryAfter(limited.headers);
    assert.ok(wait <= 2, `Retry-After ${wait} s: one guess comes back every 2 s`);
    await sleep(wait * 1000 + 250);
    assert.equal((await get(token)).status, 200, 'recovered: the valid token works');
    assert.equal((await get('pst_guess-000000000000000000000000')).status, 401, 'recovered: a bad token is an ordinary 401 again');
  });
});
