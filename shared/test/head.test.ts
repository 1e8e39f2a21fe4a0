import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { decodeOpen, decodeResponse, encodeOpen, encodeResponse, HeadError, MalformedHeadError, MAX_HEAD_PAYLOAD, type OpenPreamble } from '../src/index.js';

const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');

describe('heads: OPEN and RESPONSE payloads', () => {
  it('round-trips a request head of each kind, header bytes exactly as parsed (latin1)', () => {
    const request = { method: 'POST', target: '/api/items?q=%C3%A9', headers: ['host', 'app.test', 'x-raw', '\x80caf\xe9\xff', 'cookie', 'a=1', 'cookie', 'b=2'] };
    for (const preamble of [{ kind: 'http', request }, { kind: 'websocket', request }, { kind: 'tcp' }] as OpenPreamble[]) {
      assert.deepEqual(decodeOpen(encodeOpen(preamble)), preamble);
    }
    // One character is one byte on the wire: what a browser sent as 0xe9 reaches the app as 0xe9.
    assert.ok(encodeOpen({ kind: 'http', request }).includes(Buffer.from([0x80, 0x63, 0x61, 0x66, 0xe9, 0xff])));
  });

  it('names the socket of an edge-to-edge stream (:socket) for every kind; a tunnel stream carries none', () => {
    const request = { method: 'GET', target: '/x', headers: ['host', 'app.test'] };
    for (const preamble of [
      { kind: 'http', request, socket: 'sck_abcdefghijkl' },
      { kind: 'websocket', request, socket: 'sck_abcdefghijkl' },
      { kind: 'tcp', socket: 'sck_abcdefghijkl' },
    ] as OpenPreamble[]) {
      assert.deepEqual(decodeOpen(encodeOpen(preamble)), preamble);
    }
    assert.equal(encodeOpen({ kind: 'tcp' }).length, 1, 'a tunnel tcp OPEN stays one byte');
    assert.ok(!('socket' in decodeOpen(encodeOpen({ kind: 'http', request }))));
    // A receiver that does not know :socket (a connector) reads the same request: unknown pseudo-fields are skipped.
    assert.deepEqual(decodeOpen(encodeOpen({ kind: 'http', request, socket: 'sck_abcdefghijkl' })).kind, 'http');
    assert.throws(() => decodeOpen(latin1('\x03:socket\0')), MalformedHeadError);
    assert.throws(() => decodeOpen(latin1('\x01:socket\0\0:method\0GET\0:target\0/')), MalformedHeadError);
  });

  it('round-trips a response head, duplicates and order kept', () => {
    const head = { status: 302, headers: ['location', '/next', 'set-cookie', 'a=1; Path=/', 'set-cookie', 'b=2', 'x-empty', ''] };
    assert.deepEqual(decodeResponse(encodeResponse(head)), head);
    assert.deepEqual(decodeResponse(encodeResponse({ status: 204, headers: [] })), { status: 204, headers: [] });
  });

  it('round-trips any latin1 field list without NUL, CR or LF', () => {
    const token = fc.stringMatching(/^[a-z0-9!#$%&'*+.^_`|~-]{1,20}$/);
    const value = fc.string({ unit: fc.integer({ min: 0x09, max: 0xff }).filter((c) => c !== 0x0a && c !== 0x0d).map((c) => String.fromCharCode(c)), maxLength: 40 });
    fc.assert(
      fc.property(fc.array(fc.tuple(token, value), { maxLength: 20 }), fc.integer({ min: 100, max: 999 }), (pairs, status) => {
        const headers = pairs.flat();
        assert.deepEqual(decodeResponse(encodeResponse({ status, headers })), { status, headers });
        const request = { method: 'GET', target: '/', headers };
        assert.deepEqual(decodeOpen(encodeOpen({ kind: 'http', request })), { kind: 'http', request });
      }),
      { numRuns: 300 },
    );
  });

  it('refuses to encode a character outside latin1 rather than cut it to a byte', () => {
    // U+010A would become 0x0A (LF) if only its low byte were kept: a header injection.
    assert.throws(() => encodeOpen({ kind: 'http', request: { method: 'GET', target: '/', headers: ['x-name', 'a\u010ab'] } }), HeadError);
    assert.throws(() => encodeResponse({ status: 200, headers: ['x-name', '山田'] }), HeadError);
  });

  it('refuses to encode a head larger than one frame', () => {
    const headers = ['x-big', 'a'.repeat(MAX_HEAD_PAYLOAD)];
    assert.throws(() => encodeOpen({ kind: 'http', request: { method: 'GET', target: '/', headers } }), HeadError);
    assert.throws(() => encodeResponse({ status: 200, headers }), HeadError);
  });

  it('ignores pseudo-fields it does not know, so later versions can add some', () => {
    const open = latin1('\x01:method\0GET\0:target\0/x\0:future\0yes\0host\0a');
    assert.deepEqual(decodeOpen(open), { kind: 'http', request: { method: 'GET', target: '/x', headers: ['host', 'a'] } });
    assert.deepEqual(decodeResponse(latin1(':status\x00200\0:later\0x\0a\0b')), { status: 200, headers: ['a', 'b'] });
  });

  for (const [name, payload] of [
    ['an unknown kind', Buffer.from([7])],
    ['a request without :method', latin1('\x01:target\0/')],
    ['a request without :target', latin1('\x01:method\0GET')],
    ['a method that is not a token', latin1('\x01:method\0G T\0:target\0/')],
    ['a target with a space', latin1('\x01:method\0GET\0:target\0/a b')],
    ['an odd number of fields', latin1('\x01:method\0GET\0:target\0/\0host')],
    ['a header value with CR or LF', latin1('\x01:method\0GET\0:target\0/\0x\0a\r\nx-injected: 1')],
  ] as const) {
    it(`refuses an OPEN with ${name}`, () => {
      assert.throws(() => decodeOpen(payload), MalformedHeadError);
    });
  }

  for (const [name, text] of [
    ['no :status', 'a\0b'],
    ['a status that is not a number', ':status\0ok'],
    ['a status below 100', ':status\x0099'],
    ['a status above 999', ':status\x001000'],
    ['a header value with LF', ':status\x00200\0x\0a\nb'],
  ] as const) {
    it(`refuses a RESPONSE with ${name}`, () => {
      assert.throws(() => decodeResponse(latin1(text)), MalformedHeadError);
    });
  }
});
