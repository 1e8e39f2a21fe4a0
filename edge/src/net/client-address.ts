import type { IncomingMessage } from 'node:http';
import { BlockList, isIP, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';
import type { EdgeConfig } from '../config.js';

/** Who sent a request, as far as the edge can trust what it was told. */
interface ClientView {
  readonly address: string;
  /** The scheme the client used to reach the first hop. */
  readonly scheme: 'http' | 'https';
}

/** Filled once per request as it arrives (see ProxyTrust.identify), read anywhere after. A property, not a WeakMap: one per request, gone with it. */
const VIEW = Symbol('postern.clientView');
type Viewed = IncomingMessage & { [VIEW]?: ClientView };

/**
 * The client's address: the TCP peer, unless that peer is a trusted proxy, in which case the
 * rightmost X-Forwarded-For entry that is not itself a trusted proxy. The only source of client
 * addresses in the edge (audit records, logs, the X-Forwarded-For the app receives).
 */
export function clientAddress(req: IncomingMessage): string {
  return (req as Viewed)[VIEW]?.address ?? req.socket.remoteAddress ?? '';
}

/** The peer of a connection, for one whose request head could not be parsed (no header to trust yet). */
export function peerAddress(socket: Duplex): string {
  return (socket as Partial<Socket>).remoteAddress ?? '';
}

/**
 * The scheme the client used: TLS on this socket, else a trusted proxy's X-Forwarded-Proto, else
 * the edge's public scheme. (A request never identified, e.g. Fastify's inject() in unit tests,
 * counts as what its own socket is.)
 */
export function clientScheme(req: IncomingMessage): 'http' | 'https' {
  return (req as Viewed)[VIEW]?.scheme ?? ((req.socket as TLSSocket).encrypted ? 'https' : 'http');
}

const familyOf = (address: string): 'ipv4' | 'ipv6' | undefined => {
  const family = isIP(address);
  return family === 4 ? 'ipv4' : family === 6 ? 'ipv6' : undefined;
};

/**
 * `--trusted-proxy`: forwarding headers are believed only from these peers. Anyone else's
 * X-Forwarded-* is ignored here (and never reaches the app: proxy/headers.ts strips them).
 */
export class ProxyTrust {
  private readonly trusted = new BlockList();
  private readonly any: boolean;

  constructor(private readonly config: EdgeConfig) {
    for (const net of config.trustedProxies) this.trusted.addSubnet(net.address, net.prefix, net.family);
    this.any = config.trustedProxies.length > 0;
  }

  /** Works out who sent `req`; called once as a request or upgrade arrives, before anything reads it. */
  identify(req: IncomingMessage): void {
    const peer = req.socket.remoteAddress ?? '';
    const encrypted = (req.socket as TLSSocket).encrypted === true;
    if (!this.any || !this.isTrusted(peer)) {
      (req as Viewed)[VIEW] = { address: peer, scheme: encrypted ? 'https' : this.config.publicScheme };
      return;
    }
    (req as Viewed)[VIEW] = { address: this.forwardedFor(req, peer), scheme: encrypted ? 'https' : (this.forwardedProto(req) ?? this.config.publicScheme) };
  }

  /** Whether a peer is a `--trusted-proxy` (its connections carry many clients). */
  isTrusted(address: string): boolean {
    const family = familyOf(address);
    return family !== undefined && this.trusted.check(address, family);
  }

  /**
   * Walks X-Forwarded-For from the right (the entries our own proxies appended) and stops at the
   * first address that is not a trusted proxy: everything left of it was written by the client.
   * An entry that is not an IP address ends the walk: the last trusted hop is all we know.
   */
  private forwardedFor(req: IncomingMessage, peer: string): string {
    const header = req.headers['x-forwarded-for'];
    if (!header) return peer;
    let client = peer;
    for (const entry of [header].flat().join(',').split(',').reverse()) {
      const address = entry.trim();
      if (familyOf(address) === undefined) return client;
      client = address;
      if (!this.isTrusted(address)) return client;
    }
    return client;
  }

  /**
   * The last X-Forwarded-Proto value, the one our nearest proxy wrote (a proxy that appends
   * instead of replacing keeps whatever the client sent on the left), if it is http or https.
   */
  private forwardedProto(req: IncomingMessage): 'http' | 'https' | undefined {
    const last = [req.headers['x-forwarded-proto'] ?? []].flat().join(',').split(',').pop()?.trim().toLowerCase();
    return last === 'http' || last === 'https' ? last : undefined;
  }
}
