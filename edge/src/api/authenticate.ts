import type { FastifyInstance, FastifyRequest } from 'fastify';
import { tokenFailure } from '../auth/token-failure.js';
import { clientAddress } from '../net/client-address.js';
import type { Actor } from '../control/control-plane.js';
import { EdgeError } from '../errors.js';
import type { Hit, RateLimits } from '../limits/rate-limits.js';
import type { Account } from '../store/accounts.js';
import type { Store } from '../store/index.js';
import type { ApiToken } from '../store/tokens.js';

declare module 'fastify' {
  interface FastifyRequest {
    account?: Account;
    apiToken?: ApiToken;
  }
}

/**
 * Requires `Authorization: Bearer pst_…` on every route of this plugin; 401 with a precise code
 * otherwise. Failed token checks count against the client address, and once it is over its limit
 * even a valid token is refused (429) until it recovers, so guessing learns nothing; requests with a
 * valid token count against the account.
 */
export function requireToken(app: FastifyInstance, store: Store, limits: RateLimits): void {
  app.decorateRequest('account', undefined);
  app.decorateRequest('apiToken', undefined);
  app.addHook('onRequest', async (request) => {
    const attempt: Hit = ['apiBadTokenPerAddress', clientAddress(request.raw)];
    const guessing = limits.take(attempt);
    if (guessing) throw guessing;
    const auth = request.headers.authorization;
    const token = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
    const check = token ? await store.tokens.check(token) : undefined;
    if (!check?.ok) throw tokenFailure(check);
    const account = await store.accounts.findById(check.token.accountId);
    if (!account) throw tokenFailure(undefined);
    limits.refund(attempt);
    const overUse = limits.take(['apiPerAccount', account.id]);
    if (overUse) throw overUse;
    request.account = account;
    request.apiToken = check.token;
  });
}

/** The authenticated account (routes run after requireToken's hook). */
export function accountOf(request: FastifyRequest): Account {
  if (!request.account) throw new EdgeError('UNAUTHORIZED', 'not authenticated');
  return request.account;
}

/** Creating sockets and tunnels is for accounts the edge admin made; others only reach sockets. */
export function requirePublisher(request: FastifyRequest): Account {
  const account = accountOf(request);
  if (!account.publisher) {
    throw new EdgeError(
      'NOT_PUBLISHER',
      `${account.email} may reach sockets but not publish them: the edge admin can allow it with "postern admin user add ${account.email}"`,
    );
  }
  return account;
}

export const actorOf = (request: FastifyRequest): Actor => ({ email: accountOf(request).email, remote: clientAddress(request.raw) });
