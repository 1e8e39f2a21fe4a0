import type { IncomingMessage } from 'node:http';
import type { BadTokenGuard } from '../auth/bad-token-guard.js';
import { TOKEN_CREDENTIAL, type AuthContext } from '../auth/context.js';
import { readCookie } from '../auth/cookies.js';
import { claimedOrigin, isSafeMethod, isSameOriginRequest } from '../auth/origin-check.js';
import { posternBearerToken } from '../auth/postern-token.js';
import type { EdgeConfig } from '../config.js';
import { EdgeError } from '../errors.js';
import { evaluate, type AccessRules, type Identity } from '../policy/evaluate.js';
import type { Store } from '../store/index.js';
import type { SocketRecord } from '../store/sockets.js';

/** Who the app is told about, once the policy allowed the request. */
export interface AppIdentity {
  readonly userId: string;
  readonly email: string | null;
  readonly name: string | null;
  readonly groups: readonly string[];
  /** Cache key of the assertion (the session, or the token). */
  readonly assertionKey: string;
}

export type GateDecision =
  | {
      readonly kind: 'allow';
      readonly identity: AppIdentity | null;
      /** The session behind a cookie (WebSockets must then come from the socket's own origin). */
      readonly sessionHash: string | null;
      /** What closes long-lived streams: the session hash, or `token:<id>` (see LiveConnections). */
      readonly credential: string | null;
      /** The request's Authorization header was our bearer token: it must not reach the app. */
      readonly consumedAuthorization: boolean;
    }
  | { readonly kind: 'login'; readonly location: string }
  | { readonly kind: 'unauthorized'; readonly message: string }
  | { readonly kind: 'forbidden'; readonly who: string; readonly reason: string }
  /**
   * Refused for what the request is, not who sent it: the edge's error page with this error. A
   * `denial` is audited like a policy denial (cross-socket request forgery); a 429 is not.
   */
  | { readonly kind: 'refused'; readonly error: EdgeError; readonly denial?: { readonly who: string; readonly reason: string } };

/** Verified tokens are re-checked against SQLite this often (as sessions are). */
const TOKEN_CACHE_MS = 5_000;

interface TokenHolder {
  readonly tokenId: string;
  readonly accountId: string;
  readonly email: string;
  readonly name: string | null;
  readonly identity: Identity;
  readonly expiresAt: number | null;
  readonly checkedAt: number;
}

/**
 * Decides one request to a socket: who is asking (session cookie of this host, or a Postern bearer
 * token), then the socket's policy. Pure lookups plus the policy function; the caller answers.
 */
export class SocketGate {
  /** Rules per socket record (records are replaced, never mutated, so identity is a safe key). */
  private readonly rulesCache = new WeakMap<SocketRecord, AccessRules>();
  private readonly tokens = new Map<string, TokenHolder>();

  constructor(
    private readonly config: EdgeConfig,
    private readonly store: Store,
    private readonly auth: AuthContext,
    private readonly badTokens: BadTokenGuard,
  ) {
    // A revoked token stops working at once, not when its cache entry ages out.
    auth.live.onClose((credentials) => this.forgetTokens(credentials));
  }

  check(req: IncomingMessage, socket: SocketRecord, host: string): GateDecision {
    const token = posternBearerToken(req.headers.authorization);
    if (!socket.cloudauth) {
      // A Postern token is never the app's business, even on a public socket (the app may be anyone's);
      // proxy/headers.ts also drops one in any other spelling.
      return { kind: 'allow', identity: null, sessionHash: null, credential: null, consumedAuthorization: token !== undefined };
    }
    const rules = this.rules(socket);
    if (token !== undefined) {
      const decision = this.checkToken(token, rules);
      if (decision.kind !== 'unauthorized') return decision;
      return { kind: 'refused', error: this.badTokens.failed(req, new EdgeError('UNAUTHORIZED', decision.message)) };
    }

    const session = this.auth.sessions.resolve(readCookie(req, this.auth.cookies.session), socket.id);
    if (!session) {
      const wantsPage = req.method === 'GET' && (req.headers.accept ?? '').includes('text/html') && req.headers.upgrade === undefined;
      if (!wantsPage) return { kind: 'unauthorized', message: `Sign in at ${this.auth.edgeUrl}/auth/login or send a Postern token.` };
      const rd = `${this.config.publicScheme}://${host}${req.url ?? '/'}`;
      return { kind: 'login', location: `${this.auth.edgeUrl}/auth/login?rd=${encodeURIComponent(rd)}` };
    }
    const { user, record } = session;
    const forgery = this.crossOrigin(req, socket, host, user.email ?? user.id);
    if (forgery) return forgery;
    const identity: Identity = { email: user.email, groups: user.groups, githubOrgs: user.githubOrgs, githubTeams: user.githubTeams };
    const decision = evaluate(rules, identity);
    if (!decision.allow) return { kind: 'forbidden', who: user.email ?? `${user.name ?? user.subject} (no verified email)`, reason: decision.reason };
    return {
      kind: 'allow',
      identity: { userId: user.id, email: user.email, name: user.name, groups: user.groups, assertionKey: record.idHash },
      sessionHash: record.idHash,
      credential: record.idHash,
      consumedAuthorization: false,
    };
  }

  /**
   * Cross-socket request forgery: a page of a sibling socket (same site, so the cookie rides along)
   * posting to this app with the visitor's session. Unsafe methods must come from this origin,
   * unless the socket's owner opted out (`allow_cross_origin_requests`).
   */
  private crossOrigin(req: IncomingMessage, socket: SocketRecord, host: string, who: string): GateDecision | undefined {
    if (isSafeMethod(req.method) || socket.allowCrossOriginRequests) return undefined;
    const origin = `${this.config.publicScheme}://${host}`;
    if (isSameOriginRequest(req, origin)) return undefined;
    const reason = `cross-origin ${req.method ?? ''} refused (${claimedOrigin(req)})`;
    return {
      kind: 'refused',
      error: new EdgeError('CROSS_ORIGIN_REQUEST', `This ${req.method ?? ''} request came from another site's page, not from ${origin}: the edge did not send it to the app.`),
      denial: { who, reason },
    };
  }

  /** A bearer token under the same policy as a browser session (also used by `postern tcp`). */
  checkToken(token: string, rules: AccessRules): Extract<GateDecision, { kind: 'allow' | 'unauthorized' | 'forbidden' }> {
    const holder = this.verifyToken(token);
    if (!holder) return { kind: 'unauthorized', message: 'The Postern token is invalid, expired or revoked.' };
    const decision = evaluate(rules, holder.identity);
    if (!decision.allow) return { kind: 'forbidden', who: holder.email, reason: decision.reason };
    return {
      kind: 'allow',
      identity: { userId: holder.accountId, email: holder.email, name: holder.name, groups: holder.identity.groups, assertionKey: `token:${holder.tokenId}` },
      sessionHash: null,
      credential: `${TOKEN_CREDENTIAL}${holder.tokenId}`,
      consumedAuthorization: true,
    };
  }

  /**
   * A token's holder, from a short cache (scripts send the same token on every request). A token
   * made by a CLI sign-in carries that identity's groups and GitHub orgs; an admin-made one only
   * the account's email.
   */
  private verifyToken(token: string, now = Date.now()): TokenHolder | undefined {
    const cached = this.tokens.get(token);
    const fresh = cached && now - cached.checkedAt < TOKEN_CACHE_MS && (cached.expiresAt === null || now < cached.expiresAt);
    if (fresh) return cached;
    this.tokens.delete(token);
    const record = this.store.tokens.verify(token, now);
    const account = record && this.store.accounts.findById(record.accountId);
    if (!record || !account) return undefined;
    const user = record.userId ? this.store.users.findById(record.userId) : undefined;
    if (this.tokens.size > 10_000) this.tokens.clear();
    const holder: TokenHolder = {
      tokenId: record.id,
      accountId: account.id,
      email: account.email,
      name: user?.name ?? null,
      identity: { email: account.email, groups: user?.groups ?? [], githubOrgs: user?.githubOrgs ?? [], githubTeams: user?.githubTeams ?? [] },
      expiresAt: record.expiresAt,
      checkedAt: now,
    };
    this.tokens.set(token, holder);
    return holder;
  }

  private forgetTokens(credentials: readonly string[]): void {
    const ids = new Set(credentials.filter((c) => c.startsWith(TOKEN_CREDENTIAL)).map((c) => c.slice(TOKEN_CREDENTIAL.length)));
    if (ids.size === 0) return;
    for (const [token, holder] of this.tokens) if (ids.has(holder.tokenId)) this.tokens.delete(token);
  }

  /** The access rules of a socket, with its owner's email. */
  rules(socket: SocketRecord): AccessRules {
    let rules = this.rulesCache.get(socket);
    if (!rules) {
      rules = {
        cloudauth: socket.cloudauth,
        allowedEmailDomains: socket.allowedEmailDomains,
        allowedEmailAddresses: socket.allowedEmailAddresses,
        allowedGithubOrgs: socket.allowedGithubOrgs,
        allowedGithubTeams: socket.allowedGithubTeams,
        allowedGroups: socket.allowedGroups,
        ownerEmail: this.store.accounts.findById(socket.accountId)?.email ?? '',
      };
      this.rulesCache.set(socket, rules);
    }
    return rules;
  }
}
