import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { EdgeError } from '../errors.js';

/**
 * What Node's strict parser lets through but the edge refuses (SECURITY.md rule 8), because another
 * HTTP stack in front of or behind the edge could read it differently:
 *
 * - a request target that is not a path (absolute-form): routing reads Host, the target names a host too;
 * - no Host, or more than one (Node keeps the first; a front proxy may route by the last);
 * - a transfer coding other than exactly `chunked` (`identity, chunked`, `gzip, chunked`): the body
 *   would reach the app decoded differently from what the client meant;
 * - Transfer-Encoding on HTTP/1.0, whose framing RFC 9112 §6.1 calls faulty;
 * - an upgrade to anything but WebSocket: after `101` to `h2c` the app would read further requests
 *   straight from the client, with identity headers the edge never checked.
 */
export function strictRequestError(req: IncomingMessage, upgrade: boolean): EdgeError | undefined {
  const target = req.url ?? '';
  if (!target.startsWith('/') && !(target === '*' && req.method === 'OPTIONS')) {
    return new EdgeError('BAD_REQUEST', 'The request target must be a path (origin-form).');
  }
  let hosts = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) if (req.rawHeaders[i]!.toLowerCase() === 'host') hosts++;
  if (hosts > 1) return new EdgeError('BAD_REQUEST', 'The request has more than one Host header.');
  if (hosts === 0 && req.httpVersion !== '1.0') return new EdgeError('BAD_REQUEST', 'The request has no Host header.');
  const coding = req.headers['transfer-encoding'];
  if (coding !== undefined) {
    if (req.httpVersion === '1.0') return new EdgeError('BAD_REQUEST', 'Transfer-Encoding is not allowed in an HTTP/1.0 request.');
    if (coding.trim().toLowerCase() !== 'chunked') return new EdgeError('BAD_REQUEST', 'Only the chunked transfer coding is accepted.');
  }
  if (upgrade && req.headers.upgrade?.trim().toLowerCase() !== 'websocket') return new EdgeError('BAD_REQUEST', 'Only WebSocket upgrades are supported.');
  return undefined;
}

export type IntakeVerdict = { readonly kind: 'pass' } | { readonly kind: 'refuse'; readonly error: EdgeError } | { readonly kind: 'drop' };

/**
 * The first check of every request and upgrade, before routing. A refused request ends its
 * connection; and because Node hands over pipelined requests as soon as it parsed them, requests
 * that arrive on that connection after the refused one (bytes whose framing is in doubt) are dropped
 * unanswered, never routed.
 */
export class StrictIntake {
  private readonly refused = new WeakSet<Duplex>();

  check(req: IncomingMessage, upgrade: boolean): IntakeVerdict {
    if (this.refused.has(req.socket)) return { kind: 'drop' };
    const error = strictRequestError(req, upgrade);
    if (!error) return { kind: 'pass' };
    this.refused.add(req.socket);
    return { kind: 'refuse', error };
  }
}
