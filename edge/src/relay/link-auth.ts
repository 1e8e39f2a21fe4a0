import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** Headers of the edge-to-edge link's upgrade request (docs/PROTOCOL.md, "The edge-to-edge link"). */
export const LinkHeader = {
  FROM: 'postern-link-from',
  TO: 'postern-link-to',
  TIME: 'postern-link-time',
  NONCE: 'postern-link-nonce',
  MAC: 'postern-link-mac',
} as const;

/**
 * How far a link request's time may be from the receiver's clock, either way. Edges' clocks are
 * NTP-synchronised in any sane deployment; a captured request is worthless after this.
 */
export const LINK_VALIDITY_MS = 30_000;

/** Why a link request was refused: the `reason` label of postern_edge_relay_errors_total. */
export type LinkRefusal = 'malformed' | 'bad_mac' | 'wrong_edge' | 'expired' | 'replayed';

export type LinkVerdict = { readonly ok: true; readonly from: string } | { readonly ok: false; readonly reason: LinkRefusal };

const EDGE_ID = /^[A-Za-z0-9_-]{1,64}$/;
const NONCE = /^[0-9a-f]{32}$/;
const TIME = /^\d{1,16}$/;
const MAC = /^[0-9a-f]{64}$/;

/** The MAC binds the time, both edges and the nonce: a request made for one edge is no good at another. */
const macOf = (secret: string, from: string, to: string, time: string, nonce: string): Buffer =>
  createHmac('sha256', secret).update(`postern-link-v1\n${time}\n${from}\n${to}\n${nonce}`).digest();

/** The headers that open a link from edge `from` to edge `to`. */
export function linkHeaders(secret: string, from: string, to: string, now = Date.now()): Record<string, string> {
  const time = String(now);
  const nonce = randomBytes(16).toString('hex');
  return {
    [LinkHeader.FROM]: from,
    [LinkHeader.TO]: to,
    [LinkHeader.TIME]: time,
    [LinkHeader.NONCE]: nonce,
    [LinkHeader.MAC]: macOf(secret, from, to, time, nonce).toString('hex'),
  };
}

const one = (headers: IncomingHttpHeaders, name: string): string | undefined => {
  const value = headers[name];
  return typeof value === 'string' ? value : undefined;
};

/**
 * Checks link requests made for edge `self`: a MAC made with the cluster secret, within
 * LINK_VALIDITY_MS of this edge's clock, and a nonce not seen before. Nonces are remembered for the
 * validity window only (older requests are refused by their time anyway); only requests with a good
 * MAC are remembered, so nobody without the secret can fill the memory.
 */
export class LinkVerifier {
  /** Nonces of accepted requests and until when they could be replayed (ms since the epoch). */
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly secret: string,
    private readonly self: string,
    private readonly validityMs = LINK_VALIDITY_MS,
    private readonly maxRemembered = 100_000,
  ) {}

  verify(headers: IncomingHttpHeaders, now = Date.now()): LinkVerdict {
    const from = one(headers, LinkHeader.FROM);
    const to = one(headers, LinkHeader.TO);
    const time = one(headers, LinkHeader.TIME);
    const nonce = one(headers, LinkHeader.NONCE);
    const mac = one(headers, LinkHeader.MAC);
    if (!from || !to || !time || !nonce || !mac || !EDGE_ID.test(from) || !EDGE_ID.test(to) || !TIME.test(time) || !NONCE.test(nonce) || !MAC.test(mac)) {
      return { ok: false, reason: 'malformed' };
    }
    if (!timingSafeEqual(Buffer.from(mac, 'hex'), macOf(this.secret, from, to, time, nonce))) return { ok: false, reason: 'bad_mac' };
    if (to !== this.self) return { ok: false, reason: 'wrong_edge' };
    if (Math.abs(now - Number(time)) > this.validityMs) return { ok: false, reason: 'expired' };
    this.forget(now);
    if (this.seen.has(nonce) || this.seen.size >= this.maxRemembered) return { ok: false, reason: 'replayed' };
    this.seen.set(nonce, Number(time) + this.validityMs);
    return { ok: true, from };
  }

  /** Drops nonces whose requests are past their time (Map order is insertion order, close to time order). */
  private forget(now: number): void {
    for (const [nonce, until] of this.seen) {
      if (until >= now) {
        if (this.seen.size < this.maxRemembered) return;
        continue;
      }
      this.seen.delete(nonce);
    }
  }
}
