import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { test } from 'node:test';
import { StrictIntake, strictRequestError } from '../src/proxy/strict-http.js';

/** A request as Node's parser would hand it over (duplicates joined the way Node joins them). */
function parsed(raw: string[], httpVersion = '1.1', url = '/', method = 'GET'): IncomingMessage {
  const headers: Record<string, string> = {};
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    headers[name] = name === 'host' && headers[name] !== undefined ? headers[name]! : headers[name] === undefined ? raw[i + 1]! : `${headers[name]}, ${raw[i + 1]}`;
  }
  return { rawHeaders: raw, headers, httpVersion, url, method, socket: {} } as unknown as IncomingMessage;
}

test('a plain request, a chunked one and a WebSocket upgrade pass', () => {
  assert.equal(strictRequestError(parsed(['Host', 'a']), false), undefined);
  assert.equal(strictRequestError(parsed(['Host', 'a', 'Transfer-Encoding', 'chunked']), false), undefined);
  assert.equal(strictRequestError(parsed(['Host', 'a', 'Transfer-Encoding', ' Chunked ']), false), undefined);
  assert.equal(strictRequestError(parsed(['Host', 'a', 'Connection', 'Upgrade', 'Upgrade', 'WebSocket']), true), undefined);
  assert.equal(strictRequestError(parsed(['Host', 'a'], '1.1', '*', 'OPTIONS'), false), undefined);
});

const REFUSED: Array<[string, IncomingMessage, boolean]> = [
  ['an absolute-form target', parsed(['Host', 'a'], '1.1', 'http://b/x'), false],
  ['an asterisk target on GET', parsed(['Host', 'a'], '1.1', '*'), false],
  ['an authority-form target', parsed(['Host', 'a'], '1.1', 'b:443', 'CONNECT'), false],
  ['two Host headers', parsed(['Host', 'a', 'host', 'b']), false],
  ['no Host header on HTTP/1.1', parsed([]), false],
  ['two identical Host headers', parsed(['Host', 'a', 'HOST', 'a']), false],
  ['identity, chunked', parsed(['Host', 'a', 'Transfer-Encoding', 'identity, chunked']), false],
  ['gzip, chunked', parsed(['Host', 'a', 'Transfer-Encoding', 'gzip, chunked']), false],
  ['Transfer-Encoding on HTTP/1.0', parsed(['Host', 'a', 'Transfer-Encoding', 'chunked'], '1.0'), false],
  ['an h2c upgrade', parsed(['Host', 'a', 'Connection', 'Upgrade, HTTP2-Settings', 'Upgrade', 'h2c']), true],
  ['a list of upgrades', parsed(['Host', 'a', 'Connection', 'Upgrade', 'Upgrade', 'websocket, h2c']), true],
];
for (const [what, req, upgrade] of REFUSED) {
  test(`refuses ${what} with 400`, () => {
    const err = strictRequestError(req, upgrade);
    assert.equal(err?.code, 'BAD_REQUEST');
    assert.equal(err?.status, 400);
  });
}

test('after a refusal, later requests parsed on the same connection are dropped; other connections are not', () => {
  const intake = new StrictIntake();
  const connection = {};
  const on = (conn: object, raw: string[]) => ({ ...parsed(raw), socket: conn }) as unknown as IncomingMessage;
  assert.equal(intake.check(on(connection, ['Host', 'a']), false).kind, 'pass');
  assert.equal(intake.check(on(connection, ['Host', 'a', 'Host', 'b']), false).kind, 'refuse');
  assert.equal(intake.check(on(connection, ['Host', 'a']), false).kind, 'drop');
  assert.equal(intake.check(on({}, ['Host', 'a']), false).kind, 'pass');
});
