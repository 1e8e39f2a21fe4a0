import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, test } from 'node:test';
import { fetch as undiciFetch } from 'undici';
import { createGithubProvider, GITHUB_SCOPES } from '../src/auth/providers/github.js';
import { ProviderError, type RedirectProvider } from '../src/auth/providers/types.js';

// ---------------------------------------------------------------------------------------------------
// A mock GitHub speaking the documented answers (OAuth web flow + REST v3), served under /api/v3 like
// GitHub Enterprise Server so the base-path handling is exercised too.
// ---------------------------------------------------------------------------------------------------

const CLIENT_ID = 'Iv1.0123456789abcdef';
const CLIENT_SECRET = 'test-client-secret-0123456789';
const TOKEN = 'gho_16C7e42F292c6912E7710c838347Ae178B4a';

interface Mock {
  /** code → the PKCE challenge and redirect URI it was issued for (single use). */
  codes: Map<string, { challenge: string; redirectUri: string }>;
  user: { status: number; body: unknown };
  emails: unknown[];
  orgs: unknown[];
  teams: unknown[];
  /** Paths that never answer (timeout tests) or redirect away. */
  hang: Set<string>;
  redirect: Set<string>;
  requests: { method: string; path: string; headers: IncomingHttpHeaders; body: string }[];
}

const mock: Mock = {
  codes: new Map(),
  user: { status: 200, body: {} },
  emails: [],
  orgs: [],
  teams: [],
  hang: new Set(),
  redirect: new Set(),
  requests: [],
};

function send(res: import('node:http').ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8' });
  res.end(JSON.stringify(body));
}

function page(items: unknown[], url: URL): unknown[] {
  const perPage = Number(url.searchParams.get('per_page') ?? 30);
  const n = Number(url.searchParams.get('page') ?? 1);
  return items.slice((n - 1) * perPage, n * perPage);
}

const server: Server = createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const url = new URL(req.url ?? '/', 'http://mock');
    const body = Buffer.concat(chunks).toString();
    mock.requests.push({ method: req.method ?? '', path: url.pathname, headers: req.headers, body });
    if (mock.hang.has(url.pathname)) return; // never answers
    if (mock.redirect.has(url.pathname)) {
      res.writeHead(302, { location: 'http://127.0.0.1:9/elsewhere' });
      return res.end();
    }
    if (req.method === 'POST' && url.pathname === '/login/oauth/access_token') {
      const form = new URLSearchParams(body);
      const grant = mock.codes.get(form.get('code') ?? '');
      mock.codes.delete(form.get('code') ?? '');
      const verifier = form.get('code_verifier') ?? '';
      const challenge = createHash('sha256').update(verifier).digest('base64url');
      if (form.get('client_id') !== CLIENT_ID || form.get('client_secret') !== CLIENT_SECRET) {
        return send(res, 200, { error: 'incorrect_client_credentials', error_description: 'The client_id and/or client_secret passed are incorrect.' });
      }
      if (!grant || grant.redirectUri !== form.get('redirect_uri') || grant.challenge !== challenge) {
        return send(res, 200, {
          error: 'bad_verification_code',
          error_description: 'The code passed is incorrect or expired.',
          error_uri: 'https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code',
        });
      }
      return send(res, 200, { access_token: TOKEN, token_type: 'bearer', scope: 'read:org,read:user,user:email' });
    }
    if (req.method === 'GET' && url.pathname.startsWith('/api/v3/user')) {
      if (req.headers.authorization !== `Bearer ${TOKEN}`) {
        return send(res, 401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest', status: '401' });
      }
      switch (url.pathname) {
        case '/api/v3/user':
          return send(res, mock.user.status, mock.user.body);
        case '/api/v3/user/emails':
          return send(res, 200, page(mock.emails, url));
        case '/api/v3/user/orgs':
          return send(res, 200, page(mock.orgs, url));
        case '/api/v3/user/teams':
          return send(res, 200, page(mock.teams, url));
      }
    }
    send(res, 404, { message: 'Not Found', documentation_url: 'https://docs.github.com/rest' });
  });
});

let base = '';
let redirectUri = '';
let github: RedirectProvider;

before(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  redirectUri = 'https://auth.postern.example/auth/callback';
  github = createGithubProvider({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, webUrl: `${base}/`, apiUrl: `${base}/api/v3/` });
});
after(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
});

beforeEach(() => {
  mock.codes.clear();
  mock.hang.clear();
  mock.redirect.clear();
  mock.requests = [];
  mock.user = {
    status: 200,
    body: { login: 'octocat', id: 583231, node_id: 'MDQ6VXNlcjU4MzIzMQ==', type: 'User', name: 'The Octocat', email: 'public@example.com' },
  };
  mock.emails = [
    { email: 'Octocat@GitHub.com', primary: true, verified: true, visibility: 'public' },
    { email: 'other@example.com', primary: false, verified: true, visibility: null },
  ];
  mock.orgs = [{ login: 'Octo-Org', id: 1, url: 'https://api.github.com/orgs/Octo-Org', description: 'x' }, { login: 'second', id: 2 }];
  mock.teams = [
    { id: 1, slug: 'Core-Team', name: 'Core Team', organization: { login: 'Octo-Org', id: 1 } },
    { id: 2, slug: 'ops', name: 'Ops', organization: { login: 'second', id: 2 } },
  ];
});

/** What the browser would bring back after GitHub approved the request. */
async function approve(p: RedirectProvider, state = 'st-123') {
  const { url, secrets } = await p.authorizationUrl({ state, redirectUri });
  const code = `code-${Math.random().toString(36).slice(2)}`;
  mock.codes.set(code, { challenge: url.searchParams.get('code_challenge') ?? '', redirectUri });
  const callbackUrl = new URL(`${redirectUri}?code=${code}&state=${encodeURIComponent(state)}`);
  return { url, secrets, state, code, callbackUrl };
}

const rejects = (promise: Promise<unknown>, message: RegExp) =>
  assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ProviderError, `expected ProviderError, got ${String(err)}`);
    assert.match(err.message, message);
    assert.ok(!err.message.includes(TOKEN) && !err.message.includes(CLIENT_SECRET));
    return true;
  });

describe('GitHub provider', () => {
  test('the authorization URL carries client_id, redirect_uri, scope, state and an S256 code_challenge', async () => {
    const { url, secrets } = await github.authorizationUrl({ state: 'st-abc', redirectUri });
    assert.equal(`${url.origin}${url.pathname}`, `${base}/login/oauth/authorize`);
    const q = url.searchParams;
    assert.equal(q.get('client_id'), CLIENT_ID);
    assert.equal(q.get('redirect_uri'), redirectUri);
    assert.equal(q.get('scope'), 'read:user user:email read:org');
    assert.equal(q.get('scope'), GITHUB_SCOPES);
    assert.equal(q.get('state'), 'st-abc');
    assert.equal(q.get('code_challenge_method'), 'S256');
    assert.ok(secrets.codeVerifier && secrets.codeVerifier.length >= 43);
    assert.equal(q.get('code_challenge'), createHash('sha256').update(secrets.codeVerifier).digest('base64url'));
    assert.ok(!url.href.includes(CLIENT_SECRET));
    const again = await github.authorizationUrl({ state: 'st-abc', redirectUri });
    assert.notEqual(again.secrets.codeVerifier, secrets.codeVerifier);
    assert.equal(github.kind, 'github');
  });

  test('happy path: id as subject, primary verified email, orgs and teams lower-cased', async () => {
    const flow = await approve(github);
    const { identity } = await github.complete({ callbackUrl: flow.callbackUrl, state: flow.state, redirectUri, secrets: flow.secrets });
    assert.deepEqual(identity, {
      issuer: base,
      subject: '583231',
      email: 'octocat@github.com',
      name: 'The Octocat',
      groups: [],
      githubOrgs: ['octo-org', 'second'],
      githubTeams: ['octo-org/core-team', 'second/ops'],
    });
    const token = mock.requests.find((r) => r.path === '/login/oauth/access_token');
    assert.ok(token);
    assert.equal(token.method, 'POST');
    assert.equal(token.headers.accept, 'application/json');
    const form = new URLSearchParams(token.body);
    assert.equal(form.get('redirect_uri'), redirectUri);
    assert.equal(form.get('code_verifier'), flow.secrets.codeVerifier);
    const apiCalls = mock.requests.filter((r) => r.path.startsWith('/api/v3/'));
    assert.deepEqual(apiCalls.map((r) => r.path).sort(), ['/api/v3/user', '/api/v3/user/emails', '/api/v3/user/orgs', '/api/v3/user/teams']);
    for (const r of apiCalls) {
      assert.equal(r.headers.authorization, `Bearer ${TOKEN}`);
      assert.equal(r.headers.accept, 'application/vnd.github+json');
      assert.equal(r.headers['x-github-api-version'], '2022-11-28');
      assert.match(r.headers['user-agent'] ?? '', /postern/);
    }
  });

  test('the subject is the numeric id even when the login changes', async () => {
    mock.user.body = { login: 'renamed-octocat', id: 583231, name: null };
    const flow = await approve(github);
    const { identity } = await github.complete({ callbackUrl: flow.callbackUrl, state: flow.state, redirectUri, secrets: flow.secrets });
    assert.equal(identity.subject, '583231');
    assert.equal(identity.name, null);
  });

  test('a primary but unverified email gives null', async () => {
    mock.emails = [{ email: 'octocat@github.com', primary: true, verified: false, visibility: 'public' }];
    const flow = await approve(github);
    assert.equal((await github.complete({ callbackUrl: flow.callbackUrl, state: flow.state, redirectUri, secrets: flow.secrets })).identity.email, null);
  });

  test('a verified but not primary email is not used', async () => {
    mock.emails = [
      { email: 'unverified-primary@example.com', primary: true, verified: false, visibility: 'public' },
      { email: 'verified-secondary@example.com', primary: false, verified: true, visibility: null },
    ];
    const flow = await approve(github);
    assert.equal((await github.complete({ callbackUrl: flow.callbackUrl, state: flow.state, redirectUri, secrets: flow.secrets })).identity.email, null);
  });

  test('the public profile email is never used', async () => {
    mock.emails = [];
    const flow = await approve(github);
    assert.equal((await github.complete({ callbackUrl: flow.callbackUrl, state: flow.state, redirectUri, secrets: flow.secrets })).identity.email, null);
  });

  test('orgs and teams are read across pages', async () => {
    mock.orgs = Array.from({ length: 105 }, (_, i) => ({ login: `Org${i}`, id: i }));
    mock.teams = Array.from({ length: 100 }, (_, i) => ({ slug: `t${i}`, organization: { login: 'Org0' } }));
    const flow = await approve(github);
    const { identity } = await github.complete({ callbackUrl: flow.callbackUrl, state: flow.state, redirectUri, secrets: flow.secrets });
    assert.equal(identity.githubOrgs.length, 105);
    assert.equal(identity.githubOrgs[104], 'org104');
    assert.equal(identity.githubTeams.length, 100);
    assert.equal(mock.requests.filter((r) => r.path === '/api/v3/user/teams').length, 2);
  });

  test('a token error (bad_verification_code, HTTP 200) is a ProviderError', async () => {
    const flow = await approve(github);
    const wrong = new URL(flow.callbackUrl);
    wrong.searchParams.set('code', 'not-a-code');
    await rejects(github.complete({ callbackUrl: wrong, state: flow.state, redirectUri, secrets: flow.secrets }), /bad_verification_code/);
  });

  test('a replayed code is a ProviderError', async () => {
    const flow = await approve(github);
    await github.complete({ callbackUrl: flow.callbackUrl, state: flow.state, redirectUri, secrets: flow.secrets });
    await rejects(github.complete({ callbackUrl: flow.callbackUrl, state: flow.state, redirectUri, secrets: flow.secrets }), /bad_verification_code/);
  });

  test('a wrong PKCE verifier is refused by the token endpoint', async () => {
    const flow = await approve(github);
    await rejects(github.complete({ callbackUrl: flow.callbackUrl, state: flow.state, redirectUri, secrets: { codeVerifier: 'x'.repeat(43) } }), /bad_verification_code/);
  });

  test('401 from /user is a ProviderError', async () => {
    mock.user = { status: 401, body: { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest' } };
    const flow = await approve(github);
    await rejects(github.complete({ callbackUrl: flow.callbackUrl, state: flow.state, redirectUri, secrets: flow.secrets }), /HTTP 401/);
  });

  test('a user without a numeric id is a ProviderError', async () => {
    for (const id of ['583231', 0, -1, 1.5, null]) {
      mock.user = { status: 200, body: { login: 'octocat', id } };
      const flow = await approve(github);
      await rejects(github.complete({ callbackUrl: flow.callbackUrl, state: flow.state, redirectUri, secrets: flow.secrets }), /unexpected user/);
    }
  });

  test('a state that does not match, a repeated state or a missing verifier is refused before any request', async () => {
    const flow = await approve(github);
    const calls = mock.requests.length;
    await rejects(github.complete({ callbackUrl: flow.callbackUrl, state: 'another', redirectUri, secrets: flow.secrets }), /state/);
    const twice = new URL(flow.callbackUrl);
    twice.searchParams.append('state', flow.state);
    await rejects(github.complete({ callbackUrl: twice, state: flow.state, redirectUri, secrets: flow.secrets }), /repeated/);
    await rejects(github.complete({ callbackUrl: flow.callbackUrl, state: flow.state, redirectUri, secrets: {} }), /transaction/);
    assert.equal(mock.requests.length, calls);
  });

  test('error=access_denied in the callback is a ProviderError naming the code only', async () => {
    const { secrets } = await github.authorizationUrl({ state: 'st-1', redirectUri });
    const callbackUrl = new URL(`${redirectUri}?error=access_denied&error_description=%3Cb%3Ehi%3C%2Fb%3E&state=st-1`);
    await rejects(github.complete({ callbackUrl, state: 'st-1', redirectUri, secrets }), /^Sign-in failed: GitHub answered access_denied$/);
  });

  test('a redirect from the API is not followed', async () => {
    mock.redirect.add('/api/v3/user');
    const flow = await approve(github);
    await rejects(github.complete({ callbackUrl: flow.callbackUrl, state: flow.state, redirectUri, secrets: flow.secrets }), /did not answer|HTTP 302/);
  });

  test('a GitHub that does not answer times out as a ProviderError', async () => {
    const slow = createGithubProvider({ clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, webUrl: base, apiUrl: `${base}/api/v3`, timeoutMs: 200 });
    mock.hang.add('/api/v3/user/teams');
    const flow = await approve(slow);
    const started = Date.now();
    await rejects(slow.complete({ callbackUrl: flow.callbackUrl, state: flow.state, redirectUri, secrets: flow.secrets }), /did not answer/);
    assert.ok(Date.now() - started < 5000);
  });

  test('the injected fetch is the one used', async () => {
    const seen: string[] = [];
    const counted = createGithubProvider({
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      webUrl: base,
      apiUrl: `${base}/api/v3`,
      fetch: (input, init) => {
        seen.push(String(input));
        return undiciFetch(input, init);
      },
    });
    const flow = await approve(counted);
    await counted.complete({ callbackUrl: flow.callbackUrl, state: flow.state, redirectUri, secrets: flow.secrets });
    assert.equal(seen.length, 5);
    assert.ok(seen.every((u) => u.startsWith(base)));
  });

  test('configuration: https by default, http only on loopback', () => {
    const def = createGithubProvider({ clientId: 'c', clientSecret: 's' });
    return def.authorizationUrl({ state: 's', redirectUri }).then(({ url }) => {
      assert.equal(`${url.origin}${url.pathname}`, 'https://github.com/login/oauth/authorize');
      assert.throws(() => createGithubProvider({ clientId: 'c', clientSecret: 's', webUrl: 'http://github.example.com' }), /https/);
      assert.throws(() => createGithubProvider({ clientId: 'c', clientSecret: 's', apiUrl: 'http://api.example.com' }), /https/);
      assert.throws(() => createGithubProvider({ clientId: '', clientSecret: 's' }), /client-id/);
    });
  });
});
