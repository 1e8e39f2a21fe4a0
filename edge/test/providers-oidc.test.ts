import assert from 'node:assert/strict';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { createOidcProvider, isLoopbackHostname } from '../src/auth/providers/oidc.js';
import { GrantEndedError, ProviderError, type RedirectProvider, type TransactionSecrets } from '../src/auth/providers/types.js';

// ---------------------------------------------------------------------------------------------------
// A real in-process IdP: oidc-provider on 127.0.0.1 over http, interactions finished programmatically.
// ---------------------------------------------------------------------------------------------------

/** The slice of oidc-provider's API this test uses (the package ships no type declarations). */
interface OidcProviderInstance {
  callback(): (req: IncomingMessage, res: ServerResponse) => void;
  interactionDetails(req: IncomingMessage, res: ServerResponse): Promise<{ params: Record<string, unknown> }>;
  interactionFinished(req: IncomingMessage, res: ServerResponse, result: unknown, options: { mergeWithLastSubmission: boolean }): Promise<void>;
  Grant: new (init: { accountId: string; clientId: string }) => { addOIDCScope(scope: string): void; save(): Promise<string> };
}
type ProviderConstructor = new (issuer: string, configuration: Record<string, unknown>) => OidcProviderInstance;

const CLIENT_ID = 'postern';
const CLIENT_SECRET = randomBytes(24).toString('base64url');
const OTHER_CLIENT_ID = 'other-app';
const OTHER_CLIENT_SECRET = randomBytes(24).toString('base64url');

type Claims = Record<string, unknown>;

interface Idp {
  readonly issuer: string;
  readonly redirectUri: string;
  /** The account the next interaction signs in. */
  account: { sub: string; claims: Claims };
  close(): Promise<void>;
}

function signingKeys(): Record<string, unknown>[] {
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' });
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
  return [{ ...rsa, kid: 'rsa-1', use: 'sig' }, { ...ec, kid: 'ec-1', use: 'sig' }];
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

async function startIdp(options: { conformIdTokenClaims: boolean }): Promise<Idp> {
  const { default: Provider } = (await import('oidc-provider' as string)) as { default: ProviderConstructor };
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end();
  const server = createServer((req, res) => handler(req, res));
  const port = await listen(server);
  const issuer = `http://127.0.0.1:${port}`;
  // The redirect URI is only ever a string here: the browser is the test, nothing listens on it.
  const redirectUri = `http://127.0.0.1:${port}/auth/callback`;

  const idp: Idp = {
    issuer,
    redirectUri,
    account: { sub: 'user-1', claims: {} },
    close: () => close(server),
  };
  const client = (client_id: string, client_secret: string) => ({
    client_id,
    client_secret,
    redirect_uris: [redirectUri],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    id_token_signed_response_alg: 'RS256',
    token_endpoint_auth_method: 'client_secret_basic',
  });
  const provider = new Provider(issuer, {
    clients: [client(CLIENT_ID, CLIENT_SECRET), client(OTHER_CLIENT_ID, OTHER_CLIENT_SECRET)],
    jwks: { keys: signingKeys() },
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    // A refresh token at every sign-in (as Entra and Keycloak do), for the re-validation tests.
    issueRefreshToken: () => true,
    conformIdTokenClaims: options.conformIdTokenClaims,
    claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name', 'groups'] },
    findAccount: (_ctx: unknown, sub: string) =>
      sub === idp.account.sub ? { accountId: sub, claims: () => ({ ...idp.account.claims, sub }) } : undefined,
  });
  const callback = provider.callback();
  handler = (req, res) => {
    if (!req.url?.startsWith('/interaction/')) return callback(req, res);
    void (async () => {
      const { params } = await provider.interactionDetails(req, res);
      const grant = new provider.Grant({ accountId: idp.account.sub, clientId: String(params.client_id) });
      grant.addOIDCScope(String(params.scope));
      const grantId = await grant.save();
      await provider.interactionFinished(req, res, { login: { accountId: idp.account.sub }, consent: { grantId } }, { mergeWithLastSubmission: false });
    })().catch((err: unknown) => {
      res.statusCode = 500;
      res.end(String(err));
    });
  };
  return idp;
}

/** Plays the browser: follows the IdP's redirects with its cookies until it points at redirectUri. */
async function browse(start: URL, redirectUri: string): Promise<URL> {
  const jar = new Map<string, string>();
  let url = start;
  for (let hop = 0; hop < 10; hop++) {
    const cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
    const res = await request(url, { method: 'GET', headers: cookie ? { cookie } : {} });
    await res.body.dump();
    const setCookie = res.headers['set-cookie'];
    for (const line of Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : []) {
      const pair = line.split(';', 1)[0] ?? '';
      const eq = pair.indexOf('=');
      if (eq > 0) jar.set(pair.slice(0, eq), pair.slice(eq + 1));
    }
    const location = res.headers.location;
    assert.ok(res.statusCode >= 300 && res.statusCode < 400 && typeof location === 'string', `IdP answered ${res.statusCode} at ${url.pathname}`);
    url = new URL(location, url);
    if (url.href.startsWith(`${redirectUri}?`)) return url;
  }
  throw new Error('too many redirects');
}

interface Flow {
  readonly state: string;
  readonly url: URL;
  readonly secrets: TransactionSecrets;
  readonly callbackUrl: URL;
}

async function signIn(p: RedirectProvider, idp: Idp, edit?: (authUrl: URL) => void): Promise<Flow> {
  const state = randomBytes(16).toString('base64url');
  const { url, secrets } = await p.authorizationUrl({ state, redirectUri: idp.redirectUri });
  edit?.(url);
  const callbackUrl = await browse(url, idp.redirectUri);
  return { state, url, secrets, callbackUrl };
}

/** The identity a completed sign-in gives (sign-in's grant and notices are tested where they matter). */
async function complete(p: RedirectProvider, idp: Idp, flow: Flow, overrides: { callbackUrl?: URL; state?: string; secrets?: TransactionSecrets } = {}) {
  const signIn = await p.complete({
    callbackUrl: overrides.callbackUrl ?? flow.callbackUrl,
    state: overrides.state ?? flow.state,
    redirectUri: idp.redirectUri,
    secrets: overrides.secrets ?? flow.secrets,
  });
  return signIn.identity;
}

/** Rewrites the token endpoint's answers seen by openid-client (which uses the global fetch). */
async function withTokenResponses<T>(edit: (body: Record<string, unknown>) => void, run: () => Promise<T>): Promise<T> {
  const realFetch = globalThis.fetch;
  globalThis.fetch = async (input, init) => {
    const res = await realFetch(input, init);
    const target = typeof input === 'string' ? input : input instanceof URL ? input.href : input.url;
    if (!new URL(target).pathname.endsWith('/token')) return res;
    const body = (await res.json()) as Record<string, unknown>;
    edit(body);
    return new Response(JSON.stringify(body), { status: res.status, headers: { 'content-type': 'application/json' } });
  };
  try {
    return await run();
  } finally {
    globalThis.fetch = realFetch;
  }
}

const rejects = (promise: Promise<unknown>, message: RegExp) =>
  assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof ProviderError, `expected ProviderError, got ${String(err)}`);
    assert.match(err.message, message);
    return true;
  });

// ---------------------------------------------------------------------------------------------------

describe('OIDC provider against a real oidc-provider', () => {
  let idp: Idp;
  let oidc: RedirectProvider;
  const warnings: string[] = [];

  before(async () => {
    idp = await startIdp({ conformIdTokenClaims: false });
    oidc = await createOidcProvider({
      id: 'corp-sso',
      name: 'Corp SSO',
      issuer: idp.issuer,
      clientId: CLIENT_ID,
      clientSecret: CLIENT_SECRET,
      logWarning: (msg) => warnings.push(msg),
    });
  });
  after(() => idp.close());

  const alice = () => {
    idp.account = { sub: 'alice-123', claims: { email: 'Alice@Example.COM', email_verified: true, name: 'Alice A', groups: ['eng', 'ops'] } };
  };

  test('a plain-http loopback issuer is accepted with exactly one warning', () => {
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] ?? '', /plain http/);
    assert.equal(oidc.kind, 'oidc');
    assert.equal(oidc.id, 'corp-sso');
  });

  test('the authorization URL carries code+PKCE S256, state, nonce, scope and the redirect URI', async () => {
    const { url, secrets } = await oidc.authorizationUrl({ state: 'st-1', redirectUri: idp.redirectUri });
    assert.equal(url.origin, idp.issuer);
    const q = url.searchParams;
    assert.equal(q.get('response_type'), 'code');
    assert.equal(q.get('client_id'), CLIENT_ID);
    assert.equal(q.get('redirect_uri'), idp.redirectUri);
    assert.equal(q.get('scope'), 'openid email profile offline_access', 'offline_access because the IdP advertises it (a refresh token)');
    assert.equal(q.get('state'), 'st-1');
    assert.equal(q.get('code_challenge_method'), 'S256');
    assert.match(q.get('code_challenge') ?? '', /^[A-Za-z0-9_-]{43}$/);
    assert.equal(q.get('nonce'), secrets.nonce);
    assert.ok((secrets.codeVerifier ?? '').length >= 43);
    const other = await oidc.authorizationUrl({ state: 'st-2', redirectUri: idp.redirectUri });
    assert.notEqual(other.secrets.nonce, secrets.nonce);
    assert.notEqual(other.secrets.codeVerifier, secrets.codeVerifier);
  });

  test('happy path: the identity is iss+sub, verified email lower-cased, name and groups', async () => {
    alice();
    const flow = await signIn(oidc, idp);
    assert.equal(flow.callbackUrl.searchParams.get('iss'), idp.issuer, 'the IdP sends RFC 9207 iss');
    const identity = await complete(oidc, idp, flow);
    assert.deepEqual(identity, {
      issuer: idp.issuer,
      subject: 'alice-123',
      email: 'alice@example.com',
      name: 'Alice A',
      groups: ['eng', 'ops'],
      githubOrgs: [],
      githubTeams: [],
    });
  });

  test('email_verified false (or missing) gives email null', async () => {
    idp.account = { sub: 'bob', claims: { email: 'bob@example.com', email_verified: false } };
    assert.equal((await complete(oidc, idp, await signIn(oidc, idp))).email, null);
    idp.account = { sub: 'bob', claims: { email: 'bob@example.com' } };
    assert.equal((await complete(oidc, idp, await signIn(oidc, idp))).email, null);
    idp.account = { sub: 'bob', claims: { email: 'bob@example.com', email_verified: 'true' } };
    assert.equal((await complete(oidc, idp, await signIn(oidc, idp))).email, null, 'the string "true" is not true');
  });

  test('a verified email that breaks the email rules (two @) gives email null', async () => {
    idp.account = { sub: 'eve', claims: { email: 'eve@evil.com@example.com', email_verified: true } };
    assert.equal((await complete(oidc, idp, await signIn(oidc, idp))).email, null);
  });

  test('groups pass through only as an array of strings', async () => {
    idp.account = { sub: 'carol', claims: { groups: ['admins', 'Dev Team'] } };
    assert.deepEqual((await complete(oidc, idp, await signIn(oidc, idp))).groups, ['admins', 'Dev Team']);
    idp.account = { sub: 'carol', claims: { groups: ['admins', 7] } };
    assert.deepEqual((await complete(oidc, idp, await signIn(oidc, idp))).groups, []);
    idp.account = { sub: 'carol', claims: { groups: 'admins' } };
    assert.deepEqual((await complete(oidc, idp, await signIn(oidc, idp))).groups, []);
  });

  test('a tampered state in the callback is refused', async () => {
    alice();
    const flow = await signIn(oidc, idp);
    const tampered = new URL(flow.callbackUrl);
    tampered.searchParams.set('state', `${flow.state}x`);
    await rejects(complete(oidc, idp, flow, { callbackUrl: tampered }), /state/);
    // The callback's state is genuine but belongs to another transaction.
    await rejects(complete(oidc, idp, flow, { state: 'another-transaction' }), /state/);
    const missing = new URL(flow.callbackUrl);
    missing.searchParams.delete('state');
    await rejects(complete(oidc, idp, flow, { callbackUrl: missing }), /state/);
  });

  test('a replayed code is refused', async () => {
    alice();
    const flow = await signIn(oidc, idp);
    await complete(oidc, idp, flow);
    await rejects(complete(oidc, idp, flow), /invalid_grant/);
  });

  test('a nonce mismatch is refused', async () => {
    alice();
    const flow = await signIn(oidc, idp);
    await rejects(complete(oidc, idp, flow, { secrets: { ...flow.secrets, nonce: 'not-the-nonce' } }), /nonce/);
  });

  test('a wrong PKCE verifier is refused', async () => {
    alice();
    const flow = await signIn(oidc, idp);
    await rejects(complete(oidc, idp, flow, { secrets: { ...flow.secrets, codeVerifier: 'x'.repeat(43) } }), /invalid_grant/);
  });

  test('a transaction without its secrets is refused before any request', async () => {
    alice();
    const flow = await signIn(oidc, idp);
    await rejects(complete(oidc, idp, flow, { secrets: { codeVerifier: flow.secrets.codeVerifier } }), /transaction/);
    await rejects(complete(oidc, idp, flow, { secrets: { nonce: flow.secrets.nonce } }), /transaction/);
  });

  test('mix-up: an iss response parameter naming another issuer is refused (RFC 9207)', async () => {
    alice();
    const flow = await signIn(oidc, idp);
    const mixed = new URL(flow.callbackUrl);
    mixed.searchParams.set('iss', 'https://attacker.example');
    await rejects(complete(oidc, idp, flow, { callbackUrl: mixed }), /iss/);
    const missing = new URL(flow.callbackUrl);
    missing.searchParams.delete('iss');
    await rejects(complete(oidc, idp, flow, { callbackUrl: missing }), /iss/);
  });

  test('error=access_denied from the IdP is a ProviderError naming only the error code', async () => {
    const callbackUrl = new URL(idp.redirectUri);
    callbackUrl.search = new URLSearchParams({
      error: 'access_denied',
      error_description: '<script>alert(1)</script>',
      state: 'st-denied',
      iss: idp.issuer,
    }).toString();
    const { secrets } = await oidc.authorizationUrl({ state: 'st-denied', redirectUri: idp.redirectUri });
    await assert.rejects(oidc.complete({ callbackUrl, state: 'st-denied', redirectUri: idp.redirectUri, secrets }), (err: unknown) => {
      assert.ok(err instanceof ProviderError);
      assert.match(err.message, /access_denied/);
      assert.doesNotMatch(err.message, /script/);
      return true;
    });
  });

  test('a code issued to another client is refused', async () => {
    alice();
    const other = await createOidcProvider({ id: 'other', name: 'Other', issuer: idp.issuer, clientId: OTHER_CLIENT_ID, clientSecret: OTHER_CLIENT_SECRET });
    const flow = await signIn(other, idp);
    await rejects(complete(oidc, idp, flow), /invalid_grant/);
  });

  test('an ID token whose aud is another client is refused', async () => {
    alice();
    const other = await createOidcProvider({ id: 'other', name: 'Other', issuer: idp.issuer, clientId: OTHER_CLIENT_ID, clientSecret: OTHER_CLIENT_SECRET });
    // Our transaction, then a genuine ID token for the other client minted with our nonce.
    const ours = await signIn(oidc, idp);
    const theirs = await signIn(other, idp, (url) => url.searchParams.set('nonce', ours.secrets.nonce ?? ''));
    let foreignIdToken = '';
    await withTokenResponses((body) => (foreignIdToken = String(body.id_token)), () =>
      complete(other, idp, theirs, { secrets: { ...theirs.secrets, nonce: ours.secrets.nonce } }));
    assert.ok(foreignIdToken.split('.').length === 3);
    await withTokenResponses((body) => (body.id_token = foreignIdToken), () =>
      rejects(complete(oidc, idp, ours), /aud/));
  });

  test('ProviderError messages never contain the code or tokens', async () => {
    alice();
    const flow = await signIn(oidc, idp);
    const code = flow.callbackUrl.searchParams.get('code') ?? '';
    assert.ok(code.length > 10);
    await assert.rejects(complete(oidc, idp, flow, { secrets: { ...flow.secrets, nonce: 'wrong' } }), (err: unknown) => {
      assert.ok(err instanceof ProviderError);
      assert.ok(!err.message.includes(code));
      assert.doesNotMatch(err.message, /eyJ/);
      return true;
    });
  });

  test('alg pinning: expecting ES256 while the IdP signs this client with RS256 fails', async () => {
    alice();
    const es = await createOidcProvider({ id: 'es', name: 'ES', issuer: idp.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, idTokenAlg: 'ES256' });
    const flow = await signIn(es, idp);
    await rejects(complete(es, idp, flow), /alg/);
  });

  test('alg pinning: an algorithm the IdP does not advertise, none, or HMAC is refused at start-up', async () => {
    await assert.rejects(
      createOidcProvider({ id: 'x', name: 'X', issuer: idp.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, idTokenAlg: 'ES512' }),
      /does not sign ID tokens with ES512/,
    );
    for (const alg of ['none', 'HS256']) {
      await assert.rejects(
        createOidcProvider({ id: 'x', name: 'X', issuer: idp.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET, idTokenAlg: alg }),
        /not supported/,
      );
    }
  });
});

describe('OIDC provider against an IdP that keeps scope claims for UserInfo', () => {
  let idp: Idp;
  before(async () => {
    idp = await startIdp({ conformIdTokenClaims: true });
  });
  after(() => idp.close());

  test('email, name and groups come from UserInfo when the ID token has none', async () => {
    const oidc = await createOidcProvider({ id: 'c', name: 'C', issuer: idp.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
    idp.account = { sub: 'dave', claims: { email: 'Dave@Example.com', email_verified: true, name: 'Dave', groups: ['g1'] } };
    const identity = await complete(oidc, idp, await signIn(oidc, idp));
    assert.equal(identity.subject, 'dave');
    assert.equal(identity.email, 'dave@example.com');
    assert.equal(identity.name, 'Dave');
    assert.deepEqual(identity.groups, ['g1']);
    idp.account = { sub: 'dave', claims: { email: 'dave@example.com', email_verified: false } };
    assert.equal((await complete(oidc, idp, await signIn(oidc, idp))).email, null);
  });
});

describe('OIDC re-validation with the refresh token, against a real oidc-provider', () => {
  let idp: Idp;
  let oidc: RedirectProvider;
  before(async () => {
    idp = await startIdp({ conformIdTokenClaims: false });
    oidc = await createOidcProvider({ id: 'corp-sso', name: 'Corp SSO', issuer: idp.issuer, clientId: CLIENT_ID, clientSecret: CLIENT_SECRET });
  });
  after(() => idp.close());

  async function signedIn(sub: string, claims: Claims) {
    idp.account = { sub, claims };
    const flow = await signIn(oidc, idp);
    return oidc.complete({ callbackUrl: flow.callbackUrl, state: flow.state, redirectUri: idp.redirectUri, secrets: flow.secrets });
  }

  test('sign-in keeps the refresh token and the ID token; re-validation reads the claims the IdP has now', async () => {
    const first = await signedIn('erin', { email: 'erin@example.com', email_verified: true, groups: ['dev'] });
    assert.ok(first.grant.refreshToken && first.grant.idToken, 'a refresh token and the ID token');
    idp.account = { sub: 'erin', claims: { email: 'erin@example.com', email_verified: true, groups: ['ops'] } };
    const again = await oidc.revalidate(first.grant, first.identity);
    assert.deepEqual(again.identity.groups, ['ops']);
    assert.equal(again.identity.subject, 'erin');
    assert.ok(again.grant.refreshToken, 'still a refresh token (rotated or the same)');
  });

  test('a user the IdP no longer knows (disabled, deleted) ends the grant: GrantEndedError, invalid_grant', async () => {
    const first = await signedIn('gone', { email: 'gone@example.com', email_verified: true });
    idp.account = { sub: 'someone-else', claims: {} };
    await assert.rejects(oidc.revalidate(first.grant, first.identity), (err: unknown) => err instanceof GrantEndedError && /invalid_grant/.test(err.message));
  });

  test('a refreshed ID token of another user ends the grant', async () => {
    const first = await signedIn('fay', { email: 'fay@example.com', email_verified: true });
    const other = await signedIn('gus', { email: 'gus@example.com', email_verified: true });
    idp.account = { sub: 'fay', claims: { email: 'fay@example.com', email_verified: true } };
    await withTokenResponses((body) => (body.id_token = other.grant.idToken), async () => {
      await assert.rejects(oidc.revalidate(first.grant, first.identity), (err: unknown) => err instanceof GrantEndedError && /another user/.test(err.message));
    });
  });
});

describe('OIDC provider configuration', () => {
  test('an https issuer that does not answer discovery is a clear error naming it', async () => {
    const server = createServer();
    const port = await listen(server);
    await close(server);
    const issuer = `https://127.0.0.1:${port}`;
    await assert.rejects(
      createOidcProvider({ id: 'x', name: 'X', issuer, clientId: 'c', clientSecret: 's' }),
      (err: unknown) => {
        assert.ok(err instanceof Error);
        assert.ok(err.message.startsWith(`issuer ${issuer} did not answer OpenID discovery: `), err.message);
        return true;
      },
    );
  });

  test('an issuer whose discovery document names another issuer is refused', async () => {
    const server = createServer((_req, res) => {
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify({ issuer: 'http://127.0.0.1:1', authorization_endpoint: 'http://127.0.0.1:1/a', token_endpoint: 'http://127.0.0.1:1/t', jwks_uri: 'http://127.0.0.1:1/j' }));
    });
    const port = await listen(server);
    try {
      await assert.rejects(
        createOidcProvider({ id: 'x', name: 'X', issuer: `http://127.0.0.1:${port}`, clientId: 'c', clientSecret: 's' }),
        /did not answer OpenID discovery/,
      );
    } finally {
      await close(server);
    }
  });

  test('a plain-http issuer that is not loopback is refused before any request', async () => {
    for (const issuer of ['http://idp.example.com', 'http://10.0.0.1', 'http://127.0.0.1.nip.io', 'ftp://127.0.0.1']) {
      await assert.rejects(
        createOidcProvider({ id: 'x', name: 'X', issuer, clientId: 'c', clientSecret: 's' }),
        { message: '--oidc-issuer must be https:// (http only for loopback)' },
      );
    }
  });

  test('loopback means 127.0.0.0/8, ::1, localhost and *.localhost only', () => {
    for (const host of ['127.0.0.1', '127.9.8.7', '[::1]', 'localhost', 'LOCALHOST', 'idp.localhost']) assert.ok(isLoopbackHostname(host), host);
    for (const host of ['10.0.0.1', '128.0.0.1', '[::2]', 'localhost.example.com', 'notlocalhost', '127.0.0.1.nip.io', '0.0.0.0']) {
      assert.ok(!isLoopbackHostname(host), host);
    }
  });
});
