import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { canonicalName, downstreamResponseHeaders, isUsableIdentityHeaderName, upstreamRequestHeaders } from '../src/proxy/headers.js';

/** A request as Node's parser would hand it over: raw pairs plus the lower-cased map. */
function fakeRequest(raw: string[]): IncomingMessage {
  const headers: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) headers[raw[i]!.toLowerCase()] = raw[i + 1]!;
  return { rawHeaders: raw, headers } as unknown as IncomingMessage;
}

const ctx = { reservedNames: new Set(['x-auth-email', 'x-auth-user']), identity: [] as string[], stripAuthorization: false, clientIp: '203.0.113.9', proto: 'http' as const, publicHost: 'app-x1.localhost:8080', upstreamHost: 'app-x1.localhost:8080', requestId: 'edge-id-1' };

function toPairs(flat: string[]): Array<[string, string]> {
  const pairs: Array<[string, string]> = [];
  for (let i = 0; i < flat.length; i += 2) pairs.push([flat[i]!.toLowerCase(), flat[i + 1]!]);
  return pairs;
}

test('client-sent forwarding headers are dropped in every spelling and replaced by the edge', () => {
  const req = fakeRequest([
    'Host', 'app-x1.localhost:8080',
    'X-Forwarded-For', '1.2.3.4',
    'x_forwarded_for', '5.6.7.8',
    'X-FORWARDED-HOST', 'evil.example',
    'X_Forwarded_Proto', 'https',
    'Forwarded', 'for=1.2.3.4',
    'X-Real-IP', '1.2.3.4',
    'X-Postern-Assertion', 'forged',
    'x_postern_user', 'forged',
    'Accept', 'text/plain',
  ]);
  const pairs = toPairs(upstreamRequestHeaders(req, ctx));
  assert.deepEqual(pairs, [
    ['accept', 'text/plain'],
    ['host', 'app-x1.localhost:8080'],
    ['x-forwarded-for', '203.0.113.9'],
    ['x-forwarded-proto', 'http'],
    ['x-forwarded-host', 'app-x1.localhost:8080'],
    ['x-request-id', 'edge-id-1'],
  ]);
});

test('hop-by-hop headers and headers named in Connection are removed, in any case or underscore form', () => {
  const req = fakeRequest([
    'Connection', 'keep-alive, X-Secret, x_other',
    'Keep-Alive', 'timeout=5',
    'TE', 'trailers',
    'Transfer-Encoding', 'chunked',
    'Upgrade', 'h2c',
    'Proxy-Authorization', 'Basic Zm9v',
    'Expect', '100-continue',
    'x-secret', 'dropped',
    'X-Other', 'dropped',
    'X-Kept', 'yes',
  ]);
  const names = toPairs(upstreamRequestHeaders(req, ctx)).map(([n]) => n);
  assert.deepEqual(names, ['x-kept', 'host', 'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-request-id']);
});

test('duplicate end-to-end headers are kept in order', () => {
  const req = fakeRequest(['Cookie', 'a=1', 'Accept', '*/*', 'Cookie', 'b=2']);
  const cookies = toPairs(upstreamRequestHeaders(req, ctx)).filter(([n]) => n === 'cookie');
  assert.deepEqual(cookies, [['cookie', 'a=1'], ['cookie', 'b=2']]);
});

test('the Host the app sees follows the connector rewrite', () => {
  const req = fakeRequest(['Host', 'app-x1.localhost:8080']);
  const pairs = toPairs(upstreamRequestHeaders(req, { ...ctx, upstreamHost: '127.0.0.1:8888' }));
  assert.deepEqual(pairs.filter(([n]) => n.includes('host')), [['host', '127.0.0.1:8888'], ['x-forwarded-host', 'app-x1.localhost:8080']]);
});

test('the app gets the edge\'s request id, never a client-sent one in any spelling; the client never gets the app\'s', () => {
  const req = fakeRequest(['X-Request-Id', 'client-chosen', 'x_request_id', 'forged', 'X-REQUEST-ID', 'again', 'Accept', '*/*']);
  const ids = toPairs(upstreamRequestHeaders(req, ctx)).filter(([n]) => canonicalName(n) === 'x-request-id');
  assert.deepEqual(ids, [['x-request-id', 'edge-id-1']]);
  assert.deepEqual(downstreamResponseHeaders(['x-request-id', 'app-own', 'X-Request-ID', 'again', 'content-type', 'text/plain']), ['content-type', 'text/plain']);
});

test('response hop-by-hop headers are removed in any case, duplicates kept in order; upgrade answers keep Connection/Upgrade', () => {
  const headers = ['connection', 'keep-alive, x-hop', 'Connection', 'X-Other', 'keep-alive', 'timeout=5', 'x-hop', '1', 'X-OTHER', '2', 'Transfer-Encoding', 'chunked', 'set-cookie', 'a=1', 'content-type', 'text/plain', 'set-cookie', 'b=2'];
  assert.deepEqual(downstreamResponseHeaders(headers), ['set-cookie', 'a=1', 'content-type', 'text/plain', 'set-cookie', 'b=2']);
  const upgrade = downstreamResponseHeaders(['connection', 'Upgrade', 'upgrade', 'websocket', 'sec-websocket-accept', 'x'], true);
  assert.deepEqual(upgrade, ['connection', 'Upgrade', 'upgrade', 'websocket', 'sec-websocket-accept', 'x']);
});

test('identity headers may not take framing, credential, hop-by-hop or edge-owned names', () => {
  for (const name of ['X-Auth-Email', 'X-WEBAUTH-USER', 'Remote-User', 'X-Email']) assert.equal(isUsableIdentityHeaderName(name), true, name);
  for (const name of ['Content-Length', 'content_length', 'Transfer-Encoding', 'Host', 'Cookie', 'Authorization', 'Connection', 'Upgrade', 'TE', 'Forwarded', 'X-Forwarded-For', 'X_Forwarded_Email', 'X-Real-IP', 'X-Postern-Assertion', 'Content-Type']) {
    assert.equal(isUsableIdentityHeaderName(name), false, name);
  }
});

test("the app's Strict-Transport-Security never reaches the browser: the edge sets its own", () => {
  const out = downstreamResponseHeaders(['strict-transport-security', 'max-age=0', 'Strict-Transport-Security', 'max-age=1', 'content-type', 'text/plain']);
  assert.deepEqual(out, ['content-type', 'text/plain']);
  assert.deepEqual(downstreamResponseHeaders(['strict-transport-security', 'max-age=0', 'upgrade', 'websocket', 'connection', 'upgrade'], true), ['upgrade', 'websocket', 'connection', 'upgrade']);
});
