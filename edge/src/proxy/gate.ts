import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type { CompiledPolicy, Identity, RequestFacts, Verdict } from '@postern/shared/policy';
import type { AccessDetail, AuditLog } from '../audit/audit-log.js';
import type { BadTokenGuard } from '../auth/bad-token-guard.js';
import { TOKEN_CREDENTIAL, type AuthContext } from '../auth/context.js';
import { readCookie } from '../auth/cookies.js';
import type { ResolvedSession } from '../auth/sessions.js';
import { claimedOrigin, isSafeMethod, isSameOriginRequest } from '../auth/origin-check.js';
import { posternBearerToken } from '../auth/postern-token.js';
import type { EdgeConfig } from '../config.js';
import { EdgeError } from '../errors.js';
import type { CompiledPolicies } from '../policy/compiled-policies.js';
import { httpFacts } from '../policy/facts.js';
import { identityOf } from '../policy/identity.js';
import type { OpenStreams, StreamGrant } from '../policy/open-streams.js';
import type { Store } from '../store/index.js';
import { ReadCache, andThen, type Maybe } from '../store/read-cache.js';
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
      /** What the policy decided on, for streams that outlive the request (see trackStream). */
      readonly grant: StreamGrant;
    }
  | { readonly kind: 'login'; readonly location: string }
  | { readonly kind: 'unauthorized'; readonly message: string }
  /** `access`: what the audit log keeps for `policy diff` (path, method, deciding rule). */
  | { readonly kind: 'forbidden'; readonly who: string; readonly reason: string; readonly access: AccessDetail }
  /**
   * Refused for what the request is, not who sent it: the edge's error page with this error (also a
   * path spelled ambiguously where path rules apply, or a rule that denies everyone). A `denial` is
   * audited like a policy denial (cross-socket request forgery); a 429 is not.
   */
  | { readonly kind: 'refused'; readonly error: EdgeError; readonly denial?: { readonly who: string; readonly reason: string } };

type TokenDecision = Extract<GateDecision, { kind: 'allow' | 'unauthorized' | 'forbidden' }>;

/** A fully public socket decides nothing per request: its facts are read only for a stream that stays open. */
const UNUSED_FACTS: RequestFacts = { path: null, method: null, ip: null, at: 0, corsPreflight: false };

/**
 * A token's holder (the account, and the identity a CLI sign-in gave it) is read again this often,
 * so group changes reach tokens; a revocation evicts it at once (`forgetToken`, from the feed).
 */
const TOKEN_CACHE_MS = 5_000;

interface TokenHolder {
  readonly tokenId: string;
  readonly accountId: string;
  readonly email: string;
  readonly name: string | null;
  readonly identity: Identity;
  readonly userId: string | null;
  readonly expiresAt: number | null;
}

/**
 * Decides one request to a socket: its compiled policy first (a public rule needs no one), then who
 * is asking (session cookie of this host, or a Postern bearer token) where the policy needs to know.
 * Pure lookups plus the policy; the caller answers.
 */
export class SocketGate {
  private readonly holders = new ReadCache<string, TokenHolder | undefined>({ maxEntries: 10_000, ttlMs: TOKEN_CACHE_MS, keep: (holder) => holder !== undefined });

  constructor(
    private readonly config: EdgeConfig,
    private readonly store: Store,
    private readonly auth: AuthContext,
    private readonly badTokens: BadTokenGuard,
    private readonly policies: CompiledPolicies,
    private readonly streams: OpenStreams,
    private readonly audit: AuditLog,
  ) {}

  /** Synchronous while the policy and the session or token are cached; a promise when the store must be read. */
  check(req: IncomingMessage, socket: SocketRecord, host: string): Maybe<GateDecision> {
    return andThen(this.policies.of(socket), (policy) => this.checkUnder(policy, req, socket, host));
  }

  private checkUnder(policy: CompiledPolicy, req: IncomingMessage, socket: SocketRecord, host: string): Maybe<GateDecision> {
    const token = posternBearerToken(req.headers.authorization);
    if (policy.fullyPublic) {
      // A Postern token is never the app's business, even on a public socket (the app may be anyone's);
      // proxy/headers.ts also drops one in any other spelling.
      const grant = { socket, identity: null, facts: UNUSED_FACTS, actor: null };
      return { kind: 'allow', identity: null, sessionHash: null, credential: null, consumedAuthorization: token !== undefined, grant };
    }
    const facts = httpFacts(req, policy);
    if ('problem' in facts) return { kind: 'refused', error: new EdgeError('BAD_REQUEST', `This app's access rules match on paths, and the request has ${facts.problem}.`) };
    const anonymous = policy.decide(null, facts);
    if (anonymous.kind === 'allow') return this.publicAllow(socket, facts, anonymous, token !== undefined);
    if (token !== undefined) {
      return andThen(this.tokenUnder(policy, token, socket, facts, anonymous), (decision): GateDecision => {
        if (decision.kind !== 'unauthorized') return decision;
        return { kind: 'refused', error: this.badTokens.failed(req, new EdgeError('UNAUTHORIZED', decision.message)) };
      });
    }
    return andThen(this.auth.sessions.resolve(readCookie(req, this.auth.cookies.session), socket.id), (session) =>
      this.decideSession(req, socket, host, policy, facts, anonymous, session),
    );
  }

  private decideSession(req: IncomingMessage, socket: SocketRecord, host: string, policy: CompiledPolicy, facts: RequestFacts, anonymous: Verdict, session: ResolvedSession | undefined): GateDecision {
    if (!session) {
      // Refused whoever asks: no one to name on the page, nothing worth an audit row.
      if (anonymous.kind === 'deny') return { kind: 'refused', error: new EdgeError('POLICY_DENIED', anonymous.reason) };
      const wantsPage = req.method === 'GET' && (req.headers.accept ?? '').includes('text/html') && req.headers.upgrade === undefined;
      if (!wantsPage) return { kind: 'unauthorized', message: `Sign in at ${this.auth.edgeUrl}/auth/login or send a Postern token.` };
      const rd = `${this.config.publicScheme}://${host}${req.url ?? '/'}`;
      return { kind: 'login', location: `${this.auth.edgeUrl}/auth/login?rd=${encodeURIComponent(rd)}` };
    }
    const { user, record } = session;
    const forgery = this.crossOrigin(req, socket, host, user.email ?? user.id);
    if (forgery) return forgery;
    const identity = identityOf(user);
    const verdict = policy.decideFor(identity, facts, anonymous);
    const who = user.email ?? `${user.name ?? user.subject} (no verified email)`;
    if (verdict.kind !== 'allow') return this.forbidden(who, facts, verdict, user.id);
    if (verdict.anonymous) return this.publicAllow(socket, facts, verdict, false);
    this.audit.allowed({ socket, actor: user.email ?? user.id, facts, rule: verdict.rule, userId: user.id });
    return {
      kind: 'allow',
      identity: { userId: user.id, email: user.email, name: user.name, groups: user.groups, assertionKey: record.idHash },
      sessionHash: record.idHash,
      credential: record.idHash,
      consumedAuthorization: false,
      grant: { socket, identity, facts, actor: user.email ?? user.id },
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

  /**
   * A bearer token under the same policy as a browser session (also used by `postern tcp`, whose
   * facts have no path or method). `anonymous` is the policy's answer without an identity, if known.
   */
  checkToken(token: string, socket: SocketRecord, facts: RequestFacts): Maybe<TokenDecision> {
    return andThen(this.policies.of(socket), (policy) => this.tokenUnder(policy, token, socket, facts));
  }

  private tokenUnder(policy: CompiledPolicy, token: string, socket: SocketRecord, facts: RequestFacts, anonymous?: Verdict): Maybe<TokenDecision> {
    return andThen(this.verifyToken(token), (holder) => this.decideToken(policy, holder, socket, facts, anonymous));
  }

  private decideToken(policy: CompiledPolicy, holder: TokenHolder | undefined, socket: SocketRecord, facts: RequestFacts, anonymous?: Verdict): TokenDecision {
    if (!holder) return { kind: 'unauthorized', message: 'The Postern token is invalid, expired or revoked.' };
    const verdict = policy.decideFor(holder.identity, facts, anonymous ?? policy.decide(null, facts));
    if (verdict.kind !== 'allow') return this.forbidden(holder.email, facts, verdict, holder.userId ?? undefined);
    if (verdict.anonymous) return this.publicAllow(socket, facts, verdict, true);
    this.audit.allowed({ socket, actor: holder.email, facts, rule: verdict.rule, userId: holder.userId ?? undefined });
    return {
      kind: 'allow',
      identity: { userId: holder.accountId, email: holder.email, name: holder.name, groups: holder.identity.groups, assertionKey: `token:${holder.tokenId}` },
      sessionHash: null,
      credential: `${TOKEN_CREDENTIAL}${holder.tokenId}`,
      consumedAuthorization: true,
      grant: { socket, identity: holder.identity, facts, actor: holder.email },
    };
  }

  /**
   * Follows an upgraded WebSocket or TCP stream for as long as it is open: a rule that expires, a
   * time window that ends or a rule change closes it (policy/open-streams.ts).
   */
  trackStream(grant: StreamGrant, kind: 'websocket' | 'tcp', connection: Duplex, req?: IncomingMessage): void {
    const follow = (facts: ReturnType<typeof httpFacts>) => {
      if (!('problem' in facts)) this.streams.track({ ...grant, facts }, kind, connection);
    };
    if (grant.facts !== UNUSED_FACTS || !req) return follow(grant.facts);
    const policy = this.policies.of(grant.socket);
    if (!(policy instanceof Promise)) return follow(httpFacts(req, policy));
    // A stream the edge cannot follow is not kept (fail closed).
    policy.then((compiled) => follow(httpFacts(req, compiled)), () => connection.destroy());
  }

  private publicAllow(socket: SocketRecord, facts: RequestFacts, verdict: Verdict, consumedAuthorization: boolean): Extract<GateDecision, { kind: 'allow' }> {
    this.audit.allowed({ socket, actor: null, facts, rule: verdict.rule });
    return { kind: 'allow', identity: null, sessionHash: null, credential: null, consumedAuthorization, grant: { socket, identity: null, facts, actor: null } };
  }

  private forbidden(who: string, facts: RequestFacts, verdict: Verdict, userId?: string): Extract<GateDecision, { kind: 'forbidden' }> {
    const access: AccessDetail = { path: facts.path, method: facts.method, rule: verdict.rule, ...(userId ? { user_id: userId } : {}) };
    return { kind: 'forbidden', who, reason: verdict.reason, access };
  }

  /**
   * A token's holder, from a short cache (scripts send the same token on every request). A token
   * made by a CLI sign-in carries that identity's groups and GitHub orgs; an admin-made one only
   * the account's email.
   */
  private verifyToken(token: string, now = Date.now()): Maybe<TokenHolder | undefined> {
    // As for sessions (auth/sessions.ts): while the store is down the cache answers alone until the grace ends, then 503.
    return andThen(this.auth.outage.read(this.holders, token, () => this.holderOf(token, now), now), (holder) =>
      holder && (holder.expiresAt === null || now < holder.expiresAt) ? holder : undefined,
    );
  }

  private async holderOf(token: string, now: number): Promise<TokenHolder | undefined> {
    const check = await this.auth.tokens.check(token, now);
    const record = check.ok ? check.token : undefined;
    const account = record && (await this.store.accounts.findById(record.accountId));
    if (!record || !account) return undefined;
    const user = record.userId ? await this.store.users.findById(record.userId) : undefined;
    return {
      tokenId: record.id,
      accountId: account.id,
      email: account.email,
      name: user?.name ?? null,
      identity: identityOf({ email: account.email, groups: user?.groups ?? [], githubOrgs: user?.githubOrgs ?? [], githubTeams: user?.githubTeams ?? [] }),
      userId: user?.id ?? null,
      expiresAt: record.expiresAt,
    };
  }

  /** A token changed (a `token` change): its holder is read again at its next use. */
  forgetToken(tokenId: string): void {
    this.holders.deleteWhere((holder) => holder?.tokenId === tokenId);
  }

  forgetAll(): void {
    this.holders.clear();
  }
}
