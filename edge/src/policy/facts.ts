import type { IncomingMessage } from 'node:http';
import { requestPath, type CompiledPolicy, type RequestFacts } from '@postern/shared/policy';
import { clientAddress } from '../net/client-address.js';

export type FactsOrRefusal = RequestFacts | { readonly problem: string };

const isPreflight = (req: IncomingMessage): boolean =>
  req.method === 'OPTIONS' && req.headers.origin !== undefined && req.headers['access-control-request-method'] !== undefined;

/**
 * What the policy may look at in an HTTP request or WebSocket upgrade: the decoded path, the
 * method, the trusted client address, the time. A path spelled so that two HTTP stacks could read
 * it differently is refused where path rules apply (see requestPath); elsewhere it passes as sent.
 */
export function httpFacts(req: IncomingMessage, policy: CompiledPolicy, at = Date.now()): FactsOrRefusal {
  const target = req.url ?? '/';
  const decoded = requestPath(target);
  if ('problem' in decoded && policy.usesPath) return decoded;
  const path = 'path' in decoded ? decoded.path : target.split('?')[0]!;
  return { path, method: req.method ?? 'GET', ip: clientAddress(req) || null, at, corsPreflight: isPreflight(req) };
}

/** A TCP stream has no path and no method: rules that name them never apply to it. */
export function tcpFacts(req: IncomingMessage, at = Date.now()): RequestFacts {
  return { path: null, method: null, ip: clientAddress(req) || null, at, corsPreflight: false };
}
