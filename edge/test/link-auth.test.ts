import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LinkHeader, linkHeaders, LinkVerifier, LINK_VALIDITY_MS } from '../src/relay/link-auth.js';

const SECRET = 'a-cluster-secret-of-at-least-thirty-two-bytes';
const NOW = 1_800_000_000_000;

test('a link request made with the cluster secret for this edge is accepted once', () => {
  const verifier = new LinkVerifier(SECRET, 'edge_b');
  const headers = linkHeaders(SECRET, 'edge_a', 'edge_b', NOW);
  assert.deepEqual(verifier.verify(headers, NOW + 1_000), { ok: true, from: 'edge_a' });
  assert.deepEqual(verifier.verify(headers, NOW + 2_000), { ok: false, reason: 'replayed' }, 'the same request again is a replay');
  assert.deepEqual(verifier.verify(linkHeaders(SECRET, 'edge_a', 'edge_b', NOW), NOW + 2_000), { ok: true, from: 'edge_a' }, 'a new nonce is a new request');
});

test('a wrong secret, a tampered field or a request made for another edge is refused', () => {
  const verifier = new LinkVerifier(SECRET, 'edge_b');
  assert.deepEqual(verifier.verify(linkHeaders('another-secret-of-at-least-thirty-two-bytes', 'edge_a', 'edge_b', NOW), NOW), { ok: false, reason: 'bad_mac' });
  const good = linkHeaders(SECRET, 'edge_a', 'edge_b', NOW);
  for (const [name, value] of [
    [LinkHeader.FROM, 'edge_x'],
    [LinkHeader.TIME, String(NOW + 1)],
    [LinkHeader.NONCE, '0'.repeat(32)],
    [LinkHeader.MAC, '0'.repeat(64)],
  ] as const) {
    assert.deepEqual(verifier.verify({ ...good, [name]: value }, NOW), { ok: false, reason: 'bad_mac' }, name);
  }
  assert.deepEqual(new LinkVerifier(SECRET, 'edge_c').verify(linkHeaders(SECRET, 'edge_a', 'edge_b', NOW), NOW), { ok: false, reason: 'wrong_edge' });
  assert.deepEqual(verifier.verify(good, NOW), { ok: true, from: 'edge_a' }, 'the refusals above did not use up the nonce');
});

test('a request outside the validity window is refused, either way of the clock', () => {
  const verifier = new LinkVerifier(SECRET, 'edge_b');
  assert.deepEqual(verifier.verify(linkHeaders(SECRET, 'edge_a', 'edge_b', NOW - LINK_VALIDITY_MS - 1), NOW), { ok: false, reason: 'expired' });
  assert.deepEqual(verifier.verify(linkHeaders(SECRET, 'edge_a', 'edge_b', NOW + LINK_VALIDITY_MS + 1), NOW), { ok: false, reason: 'expired' });
  assert.deepEqual(verifier.verify(linkHeaders(SECRET, 'edge_a', 'edge_b', NOW - LINK_VALIDITY_MS), NOW), { ok: true, from: 'edge_a' });
});

test('a replay after the window is refused as expired, and the nonces it remembered are forgotten', () => {
  const verifier = new LinkVerifier(SECRET, 'edge_b', 1_000, 3);
  const first = linkHeaders(SECRET, 'edge_a', 'edge_b', NOW);
  assert.equal(verifier.verify(first, NOW).ok, true);
  assert.deepEqual(verifier.verify(first, NOW + 1_001), { ok: false, reason: 'expired' });
  // Three remembered at most (the first is one): past that, fresh requests are refused until old ones expire (fail closed).
  for (let i = 0; i < 2; i++) assert.equal(verifier.verify(linkHeaders(SECRET, 'edge_a', 'edge_b', NOW + 500), NOW + 500).ok, true, `request ${i}`);
  assert.deepEqual(verifier.verify(linkHeaders(SECRET, 'edge_a', 'edge_b', NOW + 500), NOW + 500), { ok: false, reason: 'replayed' });
  assert.equal(verifier.verify(linkHeaders(SECRET, 'edge_a', 'edge_b', NOW + 1_600), NOW + 1_600).ok, true, 'after the window the memory is free again');
});

test('missing, repeated or malformed headers are refused before any MAC is computed', () => {
  const verifier = new LinkVerifier(SECRET, 'edge_b');
  const good = linkHeaders(SECRET, 'edge_a', 'edge_b', NOW);
  assert.deepEqual(verifier.verify({}, NOW), { ok: false, reason: 'malformed' });
  for (const name of Object.values(LinkHeader)) {
    const { [name]: _dropped, ...rest } = good;
    assert.deepEqual(verifier.verify(rest, NOW), { ok: false, reason: 'malformed' }, `without ${name}`);
    assert.deepEqual(verifier.verify({ ...good, [name]: [good[name]!, good[name]!] }, NOW), { ok: false, reason: 'malformed' }, `${name} twice`);
  }
  assert.deepEqual(verifier.verify({ ...good, [LinkHeader.MAC]: 'zz'.repeat(32) }, NOW), { ok: false, reason: 'malformed' });
  assert.deepEqual(verifier.verify({ ...good, [LinkHeader.TIME]: '-5' }, NOW), { ok: false, reason: 'malformed' });
});
