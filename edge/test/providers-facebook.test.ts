import assert from 'node:assert/strict';
import { createHash, createHmac } from 'node:crypto';
import { test } from 'node:test';
import type { fetch as undiciFetch } from 'undici';
import { createFacebookProvider, FACEBOOK_GRAPH_VERSION } from '../src/auth/providers/facebook.js';
import { GrantEndedError, ProviderError } from '../src/auth/providers/types.js';

const SECRET = 'fb-app-secret';
const redirectUri = 'https://edge.example.com/auth/callback';

/** The Graph API at the fetch boundary: a token for any code, `/me` for that token, or the given error. */
function fakeGraph(me: () => { status: number; body: unknown }) {
  const calls: { url: URL; method: string; body?: string; headers: Record<string, string> }[] = [];
  const fetch = (async (input: string, init: { method: string; body?: string; headers: Record<string, string> }) => {
    const url = new URL(input);
    calls.push({ url, ...init });
    const answer = url.pathname.endsWith('/oauth/access_token') ? { status: 200, body: { access_token: 'EAAB-token', token_type: 'bearer', expires_in: 5183944 } } : me();
    return new Response(JSON.stringify(answer.body), { status: answer.status, headers: { 'content-type': 'application/json' } });
  }) as unknown as typeof undiciFetch;
  return { fetch, calls };
}

async function signIn(fetch: typeof undiciFetch) {
  const facebook = createFacebookProvider({ clientId: '123', clientSecret: SECRET, fetch });
  const { url, secrets } = await facebook.authorizationUrl({ state: 'st-1', redirectUri });
  const callbackUrl = new URL(`${redirectUri}?code=the-code&state=st-1`);
  return { facebook, url, secrets, result: await facebook.complete({ callbackUrl, state: 'st-1', redirectUri, secrets }) };
}

test('the login dialog asks for email with state and PKCE S256; the code is exchanged with its verifier; /me with appsecret_proof', async () => {
  const graph = fakeGraph(() => ({ status: 200, body: { id: '10160000000000001', name: 'Fan Page', email: 'Fan@FB.example' } }));
  const { url, secrets, result } = await signIn(graph.fetch);
  assert.equal(`${url.origin}${url.pathname}`, `https://www.facebook.com/${FACEBOOK_GRAPH_VERSION}/dialog/oauth`);
  assert.equal(url.searchParams.get('scope'), 'email,public_profile');
  assert.equal(url.searchParams.get('code_challenge'), createHash('sha256').update(secrets.codeVerifier!).digest('base64url'));
  assert.equal(url.searchParams.get('code_challenge_method'), 'S256');
  const exchange = graph.calls[0]!;
  assert.equal(exchange.url.href, `https://graph.facebook.com/${FACEBOOK_GRAPH_VERSION}/oauth/access_token`);
  assert.equal(exchange.method, 'POST', 'the secret goes in the body, not a URL');
  assert.deepEqual(Object.fromEntries(new URLSearchParams(exchange.body)), { client_id: '123', client_secret: SECRET, redirect_uri: redirectUri, code: 'the-code', code_verifier: secrets.codeVerifier });
  const me = graph.calls[1]!;
  assert.equal(me.url.searchParams.get('fields'), 'id,name,email');
  assert.equal(me.url.searchParams.get('appsecret_proof'), createHmac('sha256', SECRET).update('EAAB-token').digest('hex'));
  assert.equal(me.headers.authorization, 'Bearer EAAB-token');
  assert.deepEqual(result.identity, { issuer: 'https://www.facebook.com', subject: '10160000000000001', email: 'fan@fb.example', name: 'Fan Page', groups: [], githubOrgs: [], githubTeams: [] });
  assert.deepEqual(result.grant, { accessToken: 'EAAB-token' });
});

test('re-validation: an invalid token (Graph error 190) ends the session; other failures are transient', async () => {
  let me = { status: 200, body: { id: '1', name: 'A' } as unknown };
  const graph = fakeGraph(() => me);
  const { facebook, result } = await signIn(graph.fetch);
  assert.equal((await facebook.revalidate(result.grant, result.identity)).identity.subject, '1');
  me = { status: 400, body: { error: { message: 'Error validating access token: The user has not authorized application.', type: 'OAuthException', code: 190, error_subcode: 458 } } };
  await assert.rejects(facebook.revalidate(result.grant, result.identity), (err: unknown) => err instanceof GrantEndedError && /OAuthException 190/.test(err.message));
  me = { status: 500, body: { error: { message: 'An unknown error occurred', type: 'OAuthException', code: 1 } } };
  await assert.rejects(facebook.revalidate(result.grant, result.identity), (err: unknown) => err instanceof ProviderError && !(err instanceof GrantEndedError));
  me = { status: 200, body: { id: '2', name: 'Someone else' } };
  await assert.rejects(facebook.revalidate(result.grant, result.identity), GrantEndedError);
});

test('callback refusals: another state, an error, no code, an unexpected user id', async () => {
  const facebook = createFacebookProvider({ clientId: '123', clientSecret: SECRET, fetch: fakeGraph(() => ({ status: 200, body: { id: 'not-a-number' } })).fetch });
  const { secrets } = await facebook.authorizationUrl({ state: 'st-1', redirectUri });
  const complete = (query: string) => facebook.complete({ callbackUrl: new URL(`${redirectUri}?${query}`), state: 'st-1', redirectUri, secrets });
  await assert.rejects(complete('code=c&state=st-2'), /state does not match/);
  await assert.rejects(complete('error=access_denied&error_reason=user_denied&state=st-1'), /Facebook answered access_denied/);
  await assert.rejects(complete('state=st-1'), /sent no code/);
  await assert.rejects(complete('code=c&state=st-1'), /unexpected user/);
});
