/**
 * OpenID Connect Back-Channel Logout 1.0 at `<edge URL>/auth/backchannel-logout`: the IdP POSTs a
 * logout token when a person signs out there (or an admin ends their sessions); the edge ends the
 * matching sessions at once, live streams included.
 *
 * This endpoint is a cross-site POST by design: the IdP's server calls it, not a browser form, and
 * it carries no cookie. It is served before Fastify (server.ts dispatches it on the edge host), so
 * no Origin, CSRF or cookie check that guards the browser's POST endpoints applies to it, by
 * construction. What authenticates the request is the logout token itself, verified like an ID
 * token: signature with the issuer's discovered keys and pinned algorithm, `iss`, `aud`, `iat`,
 * `jti` never seen before, the back-channel logout `events` member, `sid` and/or `sub`, and no `nonce`.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { FastifyBaseLogger } from 'fastify';
import { decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify } from 'jose';
import type { AuditLog } from '../audit/audit-log.js';
import { closeAfterAnswer } from '../limits/linger.js';
import type { Store } from '../store/index.js';
import type { IdpSessions } from './idp-sessions.js';
import type { OidcIssuerInfo, RedirectProvider } from './providers/types.js';

export const BACKCHANNEL_LOGOUT_PATH = '/auth/backchannel-logout';
const LOGOUT_EVENT = 'http://schemas.openid.net/event/backchannel-logout';
/** Logout tokens are accepted for this long after `iat` (their `jti` is remembered as long). */
const MAX_AGE_S = 5 * 60;
const CLOCK_TOLERANCE_S = 30;
/** A logout token is about 1 KiB; the form around it is refused above this. */
const MAX_BODY_BYTES = 16 * 1024;
const BODY_TIMEOUT_MS = 10_000;
const MAX_ID_LENGTH = 255;

/** The logout token said whom to sign out: one IdP session (`sid`), or every session of `sub`. */
export interface LogoutRequest {
  readonly sid: string | undefined;
  readonly sub: string | undefined;
  readonly jti: string;
  readonly iat: number;
}

/** A logout token that must not be acted on; the message names the check it failed (never the token). */
export class LogoutTokenError extends Error {
  override readonly name = 'LogoutTokenError';
}

/**
 * Verifies one logout token for one issuer (OIDC Back-Channel Logout 1.0 §2.6), all but the `jti`
 * replay check, which needs the store. Throws LogoutTokenError.
 */
export async function verifyLogoutToken(token: string, issuer: OidcIssuerInfo, now = Date.now()): Promise<LogoutRequest> {
  let header;
  try {
    header = decodeProtectedHeader(token);
  } catch {
    throw new LogoutTokenError('not a signed JWT');
  }
  // Explicit typing (§2.4) where the IdP uses it; an ID token (typ JWT) is never a logout token.
  if (header.typ !== undefined && header.typ.toLowerCase() !== 'logout+jwt' && header.typ.toLowerCase() !== 'application/logout+jwt') {
    throw new LogoutTokenError(`typ ${JSON.stringify(header.typ).slice(0, 40)} is not logout+jwt`);
  }
  let payload;
  try {
    ({ payload } = await jwtVerify(token, issuer.keys, {
      issuer: issuer.issuer,
      audience: issuer.clientId,
      algorithms: [issuer.idTokenAlg],
      requiredClaims: ['iat', 'jti', 'events'],
      maxTokenAge: MAX_AGE_S,
      clockTolerance: CLOCK_TOLERANCE_S,
      currentDate: new Date(now),
    }));
  } catch (err) {
    throw new LogoutTokenError(joseReason(err));
  }
  // Like an ID token with several audiences and no azp, one naming other parties is not for us alone.
  if (Array.isArray(payload.aud) && payload.aud.length !== 1) throw new LogoutTokenError('aud names other audiences');
  const events = payload.events;
  if (typeof events !== 'object' || events === null || Array.isArray(events)) throw new LogoutTokenError('events is not an object');
  const event = (events as Record<string, unknown>)[LOGOUT_EVENT];
  if (typeof event !== 'object' || event === null || Array.isArray(event)) throw new LogoutTokenError('events has no back-channel logout event');
  // §2.4: a nonce is prohibited, so an ID token can never be replayed as a logout token.
  if (payload.nonce !== undefined) throw new LogoutTokenError('a logout token must not contain a nonce');
  const sid = optionalId(payload.sid, 'sid');
  const sub = optionalId(payload.sub, 'sub');
  if (sid === undefined && sub === undefined) throw new LogoutTokenError('neither sid nor sub');
  const jti = optionalId(payload.jti, 'jti');
  if (!jti) throw new LogoutTokenError('jti missing');
  return { sid, sub, jti, iat: payload.iat! };
}

/** POSTs to BACKCHANNEL_LOGOUT_PATH, answered outside Fastify (see the module comment). */
export class BackchannelLogout {
  constructor(
    private readonly store: Store,
    private readonly providers: ReadonlyMap<string, RedirectProvider>,
    private readonly idp: IdpSessions,
    private readonly audit: AuditLog,
    private readonly log: FastifyBaseLogger,
  ) {}

  handles(req: IncomingMessage): boolean {
    const path = (req.url ?? '').split('?', 1)[0];
    return path === BACKCHANNEL_LOGOUT_PATH;
  }

  handle(req: IncomingMessage, res: ServerResponse): void {
    res.setHeader('cache-control', 'no-store');
    if (req.method !== 'POST') {
      res.setHeader('allow', 'POST');
      return void answer(res, 405, { error: 'invalid_request', error_description: 'POST a logout_token' });
    }
    const type = (req.headers['content-type'] ?? '').split(';', 1)[0]!.trim().toLowerCase();
    if (type !== 'application/x-www-form-urlencoded') {
      req.resume();
      return void answer(res, 400, { error: 'invalid_request', error_description: 'the body must be application/x-www-form-urlencoded' });
    }
    readBody(req, MAX_BODY_BYTES).then(
      (body) =>
        this.logout(body, res).catch((err: unknown) => {
          this.log.error({ err }, 'back-channel logout failed');
          answer(res, 500, { error: 'server_error', error_description: 'the edge could not process the logout' });
        }),
      () => {
        closeAfterAnswer(req, res);
        answer(res, 413, { error: 'invalid_request', error_description: 'the body is too large' });
      },
    );
  }

  private async logout(body: string, res: ServerResponse): Promise<void> {
    const form = new URLSearchParams(body);
    const tokens = form.getAll('logout_token');
    if (tokens.length !== 1 || !tokens[0]) return answer(res, 400, { error: 'invalid_request', error_description: 'exactly one logout_token is required' });
    try {
      const { provider, request } = await this.verify(tokens[0]);
      const grants = await this.store.idpGrants.matching(provider.id, request.sid !== undefined ? { sid: request.sid } : { subject: request.sub });
      const users = new Map(await Promise.all([...new Set(grants.map((g) => g.userId))].map(async (id) => [id, await this.store.users.findById(id)] as const)));
      // With both sid and sub, the session must also be the subject's.
      const owned = request.sid !== undefined && request.sub !== undefined ? grants.filter((g) => users.get(g.userId)?.subject === request.sub) : grants;
      for (const grant of owned) await this.idp.endIdpSession(grant);
      for (const user of new Set(owned.map((g) => users.get(g.userId)))) {
        const actor = user?.email ?? (user ? `${user.issuer} ${user.subject}` : null);
        const account = user?.email ? await this.store.accounts.findByEmail(user.email) : undefined;
        this.audit.record({ type: 'session.ended', accountId: account?.id ?? null, actor, detail: { provider: provider.id, reason: 'signed out at the identity provider (back-channel logout)' } });
      }
      this.log.info({ provider: provider.id, sessions: owned.length, by: request.sid !== undefined ? 'sid' : 'sub' }, 'back-channel logout');
      answer(res, 200, undefined);
    } catch (err) {
      if (!(err instanceof LogoutTokenError)) throw err;
      this.log.info({ reason: err.message }, 'back-channel logout token refused');
      answer(res, 400, { error: 'invalid_request', error_description: `logout token refused: ${err.message}` });
    }
  }

  /** The issuer the token names (read unverified only to pick the keys), then every check. */
  private async verify(token: string): Promise<{ provider: RedirectProvider; request: LogoutRequest }> {
    let claims;
    try {
      claims = decodeJwt(token);
    } catch {
      throw new LogoutTokenError('not a JWT');
    }
    const audiences = typeof claims.aud === 'string' ? [claims.aud] : Array.isArray(claims.aud) ? claims.aud : [];
    const provider = [...this.providers.values()].find((p) => p.oidc && p.oidc.issuer === claims.iss && audiences.includes(p.oidc.clientId));
    if (!provider?.oidc) throw new LogoutTokenError('no configured issuer and client match its iss and aud');
    const request = await verifyLogoutToken(token, provider.oidc);
    const rememberUntil = (request.iat + MAX_AGE_S + CLOCK_TOLERANCE_S) * 1000;
    if (!(await this.store.logoutTokenIds.remember(provider.oidc.issuer, request.jti, rememberUntil))) throw new LogoutTokenError('jti already used (a replay)');
    return { provider, request };
  }
}

function optionalId(value: unknown, name: string): string | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'string' || !value || value.length > MAX_ID_LENGTH) throw new LogoutTokenError(`${name} is not a usable string`);
  return value;
}

function joseReason(err: unknown): string {
  if (err instanceof joseErrors.JWTClaimValidationFailed) return `${err.claim} ${err.reason === 'check_failed' ? 'check failed' : err.reason.replace(/_/g, ' ')}`;
  if (err instanceof joseErrors.JWTExpired) return 'expired';
  if (err instanceof joseErrors.JOSEAlgNotAllowed) return 'algorithm not allowed';
  if (err instanceof joseErrors.JWSSignatureVerificationFailed) return 'signature does not verify';
  if (err instanceof joseErrors.JWKSNoMatchingKey) return 'signed with a key the issuer does not publish';
  if (err instanceof joseErrors.JOSEError) return err.code.replace(/^ERR_/, '').toLowerCase().replace(/_/g, ' ');
  return 'could not be verified';
}

function answer(res: ServerResponse, status: number, body: Record<string, string> | undefined): void {
  if (res.headersSent) return;
  if (body === undefined) {
    res.writeHead(status, { 'content-length': 0 });
    return void res.end();
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

/** The body, up to `limit` bytes and within BODY_TIMEOUT_MS (an IdP sends ~1 KiB at once). */
function readBody(req: IncomingMessage, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const timer = setTimeout(() => {
      req.destroy();
      reject(new Error('too slow'));
    }, BODY_TIMEOUT_MS);
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size <= limit) return void chunks.push(chunk);
      clearTimeout(timer);
      req.off('data', onData);
      reject(new Error('too large'));
    };
    req.on('data', onData);
    req.once('end', () => {
      clearTimeout(timer);
      resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.once('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}
