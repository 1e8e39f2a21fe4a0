import { isIP } from 'node:net';

/** Peers are learnt while fewer edges than this are known: a hostile edge cannot grow the list without bound. */
export const MAX_KNOWN_EDGES = 16;

const SCHEMES: Readonly<Record<string, string>> = { 'http:': 'http:', 'https:': 'https:', 'ws:': 'http:', 'wss:': 'https:' };

/**
 * One spelling per edge, so `wss://e1.example.com/x` and `https://e1.example.com` are the same edge:
 * the origin, ws(s) written as http(s). Undefined for anything that is not an http(s)/ws(s) URL or
 * that carries credentials.
 */
export function normaliseEdgeUrl(raw: string): string | undefined {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    return undefined;
  }
  const scheme = SCHEMES[url.protocol];
  if (!scheme || url.username || url.password) return undefined;
  url.protocol = scheme;
  return url.origin;
}

export const isLoopbackHost = (host: string): boolean =>
  host === 'localhost' || host.endsWith('.localhost') || host === '[::1]' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));

/**
 * The domain a configured edge's peers must be in: its parent (edge-1.example.com → example.com)
 * when that keeps two labels or more, else the name itself; an address only itself. Without a
 * public-suffix list an edge named right under a two-label suffix (edge.co.uk) admits that suffix:
 * name edges under a domain of your own.
 */
function clusterDomain(host: string): { readonly name: string; readonly subdomains: boolean } {
  if (isIP(host) !== 0 || host.startsWith('[')) return { name: host, subdomains: false };
  const labels = host.split('.');
  return { name: labels.length >= 3 ? labels.slice(1).join('.') : host, subdomains: true };
}

/**
 * Whether a peer an edge announced may be dialed. Connectors send their token to every edge they
 * dial, and a hostile or confused (misconfigured) edge must not steer them to arbitrary hosts: a peer
 * must be loopback or in the domain of a configured edge. Inside that domain the worst a bad list
 * does is park connections on a wrong or dead edge (availability), since every edge still checks the
 * token and the socket.
 */
export function isTrustedPeer(configured: readonly string[], peer: string): boolean {
  const host = new URL(peer).hostname;
  if (isLoopbackHost(host)) return true;
  return configured.some((edge) => {
    const domain = clusterDomain(new URL(edge).hostname);
    return host === domain.name || (domain.subdomains && host.endsWith(`.${domain.name}`));
  });
}

/**
 * The edges one socket's connections may use: the configured ones first, in order, then peers
 * learnt from HELLOs. Slots start round-robin over the configured edges and move to another known
 * edge when theirs keeps failing (see `next`).
 */
export class EdgeSet {
  private readonly known: string[];
  /** Edges whose last attempt failed; cleared by the next HELLO from them. */
  private readonly failing = new Set<string>();

  /** `configured`: normalised edge URLs (see normaliseEdgeUrl), at least one. */
  constructor(private readonly configured: readonly string[]) {
    if (configured.length === 0) throw new Error('a connector needs at least one edge URL');
    this.known = [...new Set(configured)];
  }

  get urls(): readonly string[] {
    return this.known;
  }

  /** Slot `index`'s own edge: round-robin, so N slots use min(N, edges) distinct configured edges. */
  home(index: number): string {
    return this.configured[index % this.configured.length]!;
  }

  /** Adds the trusted, new entries of a HELLO's `peers` (anything not a list of URLs is ignored); returns those added. */
  learn(peers: unknown): string[] {
    if (!Array.isArray(peers)) return [];
    const added: string[] = [];
    for (const entry of peers.slice(0, MAX_KNOWN_EDGES)) {
      if (this.known.length >= MAX_KNOWN_EDGES) break;
      const url = typeof entry === 'string' && entry.length <= 2048 ? normaliseEdgeUrl(entry) : undefined;
      if (url === undefined || this.known.includes(url) || !isTrustedPeer(this.configured, url)) continue;
      this.known.push(url);
      added.push(url);
    }
    return added;
  }

  failed(url: string): void {
    this.failing.add(url);
  }

  reached(url: string): void {
    this.failing.delete(url);
  }

  /**
   * Where a slot leaving `current` goes: another known edge, one not failing before one that is,
   * then the one with the fewest of this socket's connections (`load`), then the earliest known;
   * `current` when it is the only edge.
   */
  next(current: string, load: (url: string) => number): string {
    let best: { url: string; rank: [number, number] } | undefined;
    for (const url of this.known) {
      if (url === current) continue;
      const rank: [number, number] = [this.failing.has(url) ? 1 : 0, load(url)];
      if (!best || rank[0] < best.rank[0] || (rank[0] === best.rank[0] && rank[1] < best.rank[1])) best = { url, rank };
    }
    return best?.url ?? current;
  }
}
