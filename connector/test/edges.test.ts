import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EdgeSet, isTrustedPeer, MAX_KNOWN_EDGES, normaliseEdgeUrl } from '../src/edges.js';

describe('edge URLs', () => {
  it('have one spelling: the origin, ws(s) as http(s); anything else is refused', () => {
    assert.equal(normaliseEdgeUrl('wss://E1.Example.com/v1/tunnel?x=1'), 'https://e1.example.com');
    assert.equal(normaliseEdgeUrl('ws://127.0.0.1:8080'), 'http://127.0.0.1:8080');
    assert.equal(normaliseEdgeUrl('https://e1.example.com:443/'), 'https://e1.example.com');
    for (const bad of ['ftp://e1.example.com', 'javascript:alert(1)', 'not a url', '', 'https://user:pw@e1.example.com']) assert.equal(normaliseEdgeUrl(bad), undefined, bad);
  });

  it('from a HELLO are trusted only in the domain of a configured edge, or on loopback', () => {
    const configured = ['https://edge-1.example.com'];
    for (const ok of ['https://edge-2.example.com', 'https://example.com', 'https://a.b.example.com:8443', 'http://localhost:9000', 'http://127.0.0.2:1', 'http://[::1]:80']) {
      assert.equal(isTrustedPeer(configured, ok), true, ok);
    }
    for (const bad of ['https://example.net', 'https://evil-example.com', 'https://example.com.evil.net', 'https://10.0.0.5']) assert.equal(isTrustedPeer(configured, bad), false, bad);
    // A two-label name admits its own subdomains, not its top-level domain's.
    assert.equal(isTrustedPeer(['https://example.com'], 'https://edge-2.example.com'), true);
    assert.equal(isTrustedPeer(['https://example.com'], 'https://other.com'), false);
    // An address admits only itself (any port).
    assert.equal(isTrustedPeer(['http://10.0.0.5:8080'], 'http://10.0.0.5:8081'), true);
    assert.equal(isTrustedPeer(['http://10.0.0.5:8080'], 'http://10.0.0.6:8080'), false);
  });
});

describe('EdgeSet', () => {
  const a = 'https://a.example.com';
  const b = 'https://b.example.com';
  const c = 'https://c.example.com';

  it('gives slots distinct configured edges round-robin (the first N when there are fewer slots)', () => {
    const edges = new EdgeSet([a, b, c]);
    assert.deepEqual([0, 1, 2, 3, 4].map((i) => edges.home(i)), [a, b, c, a, b]);
    assert.deepEqual([0].map((i) => edges.home(i)), [a]);
  });

  it('learns trusted peers once each, normalised, and ignores anything else', () => {
    const edges = new EdgeSet([a]);
    assert.deepEqual(edges.learn(['wss://b.example.com/v1/tunnel', b, 'https://A.example.com/', 'https://evil.net', 'ftp://c.example.com', 42, null, { url: c }]), [b]);
    assert.deepEqual(edges.learn('https://c.example.com'), []);
    assert.deepEqual(edges.learn(undefined), []);
    assert.deepEqual(edges.urls, [a, b]);
  });

  it('keeps at most MAX_KNOWN_EDGES, however long the lists a HELLO sends', () => {
    const edges = new EdgeSet([a]);
    for (let round = 0; round < 5; round++) edges.learn(Array.from({ length: 100 }, (_, i) => `https://e${round}-${i}.example.com`));
    assert.equal(edges.urls.length, MAX_KNOWN_EDGES);
  });

  it('sends a slot leaving an edge to a healthy one with the fewest connections, failing ones last', () => {
    const edges = new EdgeSet([a, b, c]);
    const load = (counts: Record<string, number>) => (url: string) => counts[url] ?? 0;
    assert.equal(edges.next(a, load({ [a]: 1, [b]: 1, [c]: 0 })), c);
    assert.equal(edges.next(a, load({ [a]: 1, [b]: 1, [c]: 1 })), b); // a tie: the earliest
    edges.failed(b);
    assert.equal(edges.next(a, load({ [a]: 1, [b]: 0, [c]: 3 })), c); // b failed last time: only if nothing else
    edges.failed(c);
    assert.equal(edges.next(a, load({ [a]: 1, [b]: 0, [c]: 3 })), b);
    edges.reached(c);
    assert.equal(edges.next(a, load({ [a]: 1, [b]: 0, [c]: 3 })), c);
    assert.equal(new EdgeSet([a]).next(a, () => 0), a); // the only edge: stay
  });
});
