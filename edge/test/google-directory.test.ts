import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { test } from 'node:test';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import type { fetch as undiciFetch } from 'undici';
import { DIRECTORY_SCOPE, GoogleDirectory } from '../src/auth/providers/google-directory.js';

const pem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const serviceAccount = { file: 'sa.json', clientEmail: 'dir@p.iam.gserviceaccount.com', privateKey: pem, privateKeyId: 'key-1', tokenUri: 'https://oauth2.googleapis.com/token' };

type Answer = { status: number; body: unknown };

/** Google at the fetch boundary: records each request, answers from the test's script. */
function fakeGoogle(answer: (url: URL, init: { body?: string; headers: Record<string, string> }) => Answer) {
  const calls: { url: URL; body?: string; headers: Record<string, string> }[] = [];
  const fetch = (async (input: string, init: { body?: string; headers: Record<string, string> }) => {
    const url = new URL(input);
    calls.push({ url, ...init });
    const { status, body } = answer(url, init);
    return new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });
  }) as unknown as typeof undiciFetch;
  return { fetch, calls };
}

const token = (n: number): Answer => ({ status: 200, body: { access_token: `ya29.token-${n}`, expires_in: 3599, token_type: 'Bearer' } });
const groups = (emails: string[], next?: string): Answer => ({ status: 200, body: { kind: 'admin#directory#groups', etag: '"e"', groups: emails.map((email) => ({ kind: 'admin#directory#group', id: email, email, name: email })), ...(next ? { nextPageToken: next } : {}) } });

test('the JWT-bearer assertion names the service account, the admin, the one scope and Google\'s token URI; the token is reused', async () => {
  let tokens = 0;
  const google = fakeGoogle((url) => (url.pathname === '/token' ? token(++tokens) : groups(['Eng@Corp.Example'])));
  const now = 1_700_000_000_000;
  const directory = await GoogleDirectory.create({ serviceAccount, admin: 'admin@corp.example', apiUrl: 'https://admin.googleapis.com', cacheMs: 0, fetch: google.fetch, now: () => now });
  assert.deepEqual(await directory.groupsOf('alice@corp.example', true), ['eng@corp.example']);
  assert.deepEqual(await directory.groupsOf('bob@corp.example', true), ['eng@corp.example']);
  assert.equal(tokens, 1, 'one token for both');
  const grant = new URLSearchParams(google.calls[0]!.body);
  assert.equal(grant.get('grant_type'), 'urn:ietf:params:oauth:grant-type:jwt-bearer');
  const assertion = grant.get('assertion')!;
  assert.deepEqual(decodeProtectedHeader(assertion), { alg: 'RS256', typ: 'JWT', kid: 'key-1' });
  const claims = decodeJwt(assertion);
  assert.deepEqual({ iss: claims.iss, sub: claims.sub, aud: claims.aud, scope: claims.scope }, { iss: serviceAccount.clientEmail, sub: 'admin@corp.example', aud: serviceAccount.tokenUri, scope: DIRECTORY_SCOPE });
  assert.equal(claims.exp! - claims.iat!, 3600);
  const list = google.calls[1]!;
  assert.equal(list.url.href, 'https://admin.googleapis.com/admin/directory/v1/groups?userKey=alice%40corp.example&maxResults=200');
  assert.equal(list.headers.authorization, 'Bearer ya29.token-1');
});

test('pages are followed by nextPageToken, up to a bound; a person the directory does not know has no groups', async () => {
  const google = fakeGoogle((url) => {
    if (url.pathname === '/token') return token(1);
    if (url.searchParams.get('userKey') === 'nobody@corp.example') return { status: 404, body: { error: { code: 404, message: 'Resource Not Found: userKey' } } };
    const page = Number(url.searchParams.get('pageToken') ?? 0);
    return groups([`g${page}@corp.example`], url.searchParams.get('userKey') === 'endless@corp.example' || page < 2 ? String(page + 1) : undefined);
  });
  const directory = await GoogleDirectory.create({ serviceAccount, admin: 'admin@corp.example', apiUrl: 'https://admin.googleapis.com', cacheMs: 0, fetch: google.fetch });
  assert.deepEqual(await directory.groupsOf('alice@corp.example', true), ['g0@corp.example', 'g1@corp.example', 'g2@corp.example']);
  assert.deepEqual(await directory.groupsOf('nobody@corp.example', true), []);
  assert.equal((await directory.groupsOf('endless@corp.example', true)).length, 25, 'at most 25 pages of 200');
});

test('re-validations reuse a person\'s groups for cacheMs; sign-in always asks afresh', async () => {
  let now = 0;
  const google = fakeGoogle((url) => (url.pathname === '/token' ? token(1) : groups([`n${now}@corp.example`])));
  const directory = await GoogleDirectory.create({ serviceAccount, admin: 'admin@corp.example', apiUrl: 'https://admin.googleapis.com', cacheMs: 1_000, fetch: google.fetch, now: () => now });
  assert.deepEqual(await directory.groupsOf('a@corp.example', false), ['n0@corp.example']);
  now = 999;
  assert.deepEqual(await directory.groupsOf('a@corp.example', false), ['n0@corp.example'], 'cached');
  assert.deepEqual(await directory.groupsOf('a@corp.example', true), ['n999@corp.example'], 'sign-in');
  now = 2_500;
  assert.deepEqual(await directory.groupsOf('a@corp.example', false), ['n2500@corp.example'], 'expired');
});

test('a token revoked early is replaced once; refusals say what to fix', async () => {
  let tokens = 0;
  let delegated = true;
  const google = fakeGoogle((url, init) => {
    if (url.pathname === '/token') {
      return delegated ? token(++tokens) : { status: 401, body: { error: 'unauthorized_client', error_description: 'Client is unauthorized to retrieve access tokens using this method' } };
    }
    return init.headers.authorization === `Bearer ya29.token-${tokens}` && tokens > 1 ? groups(['ok@corp.example']) : { status: 401, body: { error: { code: 401, message: 'Request had invalid authentication credentials.' } } };
  });
  const directory = await GoogleDirectory.create({ serviceAccount, admin: 'admin@corp.example', apiUrl: 'https://admin.googleapis.com', cacheMs: 0, fetch: google.fetch });
  assert.deepEqual(await directory.groupsOf('a@corp.example', true), ['ok@corp.example'], 'the first token was refused, the second worked');
  assert.equal(tokens, 2);
  delegated = false;
  tokens = 100; // every token so far is now refused
  await assert.rejects(directory.groupsOf('a@corp.example', true), /unauthorized_client.*domain-wide delegation of https:\/\/www\.googleapis\.com\/auth\/admin\.directory\.group\.readonly.*Admin console/);
  const forbidden = await GoogleDirectory.create({
    serviceAccount,
    admin: 'admin@corp.example',
    apiUrl: 'https://admin.googleapis.com',
    cacheMs: 0,
    fetch: fakeGoogle((url) => (url.pathname === '/token' ? token(1) : { status: 403, body: { error: { code: 403, message: 'Not Authorized to access this resource/api' } } })).fetch,
  });
  await assert.rejects(forbidden.groupsOf('a@corp.example', true), /answered HTTP 403 to groups\.list: Not Authorized to access this resource\/api/);
});

test('a key that is not RSA PKCS #8 is refused at start-up', async () => {
  await assert.rejects(GoogleDirectory.create({ serviceAccount: { ...serviceAccount, privateKey: '-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n' }, admin: 'a@b', apiUrl: 'https://admin.googleapis.com', cacheMs: 0 }), /not an RSA PKCS #8 key/);
});
