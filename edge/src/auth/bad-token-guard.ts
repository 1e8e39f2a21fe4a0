import type { IncomingMessage } from 'node:http';
import type { EdgeError } from '../errors.js';
import type { RateLimits } from '../limits/rate-limits.js';
import { clientAddress } from '../net/client-address.js';

/**
 * Bad-token guessing on socket hosts, the tunnel endpoint and the TCP endpoint (the API has its
 * own limit): each failed token counts against the client's address, and past the limit the answer
 * is 429 with Retry-After instead of the 401 (one log line per address per window).
 */
export class BadTokenGuard {
  constructor(private readonly limits: RateLimits) {}

  /** The answer to a token that did not pass: `failure` (401), or the 429 once the address is over its limit. */
  failed(req: IncomingMessage, failure: EdgeError): EdgeError {
    return this.limits.take(['badTokenPerAddress', clientAddress(req)]) ?? failure;
  }
}
