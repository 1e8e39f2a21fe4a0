import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

/**
 * The header that carries the edge's id of a request: sent back to the client on every answer and
 * forwarded to the app (a client-sent one is dropped first, see proxy/headers.ts).
 */
export const REQUEST_ID_HEADER = 'x-request-id';

const ID = Symbol('postern.requestId');
type Tagged = IncomingMessage & { [ID]?: string };

/** Gives a request the edge's own id on arrival. A client-sent id is never taken as ours. */
export function assignRequestId(req: IncomingMessage): string {
  const id = randomUUID();
  (req as Tagged)[ID] = id;
  return id;
}

/** The id given on arrival (one is given now if the request somehow has none). */
export function requestIdOf(req: IncomingMessage): string {
  return (req as Tagged)[ID] ?? assignRequestId(req);
}

/** A client's id worth logging: one plain token, no spaces, commas or control characters. */
const WELL_FORMED = /^[A-Za-z0-9._:@/+=-]{1,128}$/;

/** The client's own X-Request-Id when well formed (logged beside ours to correlate); otherwise undefined. */
export function clientRequestId(req: IncomingMessage): string | undefined {
  const value = req.headers[REQUEST_ID_HEADER];
  return typeof value === 'string' && WELL_FORMED.test(value) ? value : undefined;
}
