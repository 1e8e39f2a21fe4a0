import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { AuditLog } from '../audit/audit-log.js';
import { clientAddress } from '../net/client-address.js';
import type { EdgeConfig } from '../config.js';
import type { EdgeError } from '../errors.js';
import type { Hit, RateLimits } from '../limits/rate-limits.js';
import type { EdgeMetrics } from '../observability/metrics.js';
import { localLoginPage, signedOutPage, signInFailedPage, signOutConfirmPage } from '../pages/auth-pages.js';
import { loginChooserPage } from '../pages/idp-pages.js';
import { sendError } from '../pages/error-page.js';
import { handoffConsentPage } from '../pages/handoff-page.js';
import { normalizeEmail } from '@postern/shared/policy';
import type { HostRouter } from '../proxy/router.js';
import type { Store } from '../store/index.js';
import { randomHandle } from '../store/secrets.js';
import type { SessionRecord } from '../store/sessions.js';
import type { User } from '../store/users.js';
import type { AuthContext } from './context.js';
import type { HandoffConsent } from './handoff-consent.js';
import { isSameOriginRequest } from './origin-check.js';
import { isHandoffNonce } from './sessions.js';
import { clearCookie, readCookie, setCookie } from './cookies.js';
import { verifyPassword } from './providers/local.js';
import { ProviderError, type SignIn, type VerifiedIdentity } from './providers/types.js';
import { returnTargetToString, type ReturnTarget } from './redirects.js';
import { returnTargetParser } from './return-targets.js';
import { SIGNED_OUT_PATH } from './rp-logout.js';

export interface AuthRouteDeps {
  readonly config: EdgeConfig;
  readonly store: Store;
  readonly auth: AuthContext;
  readonly router: HostRouter;
  readonly audit: AuditLog;
  readonly limits: RateLimits;
  readonly metrics: EdgeMetrics;
  readonly consent: HandoffConsent;
}

const TRANSACTION_TTL_MS = 10 * 60_000;
/** Issuer of local accounts: users are keyed by issuer + subject (the account id). */
const LOCAL_ISSUER = 'postern:local';

type Query = Record<string, string | undefined>;

/** Sign-in and sign-out on the edge's own host: chooser, IdP redirects, callback, local accounts. */
export async function authRoutes(app: FastifyInstance, deps: AuthRouteDeps): Promise<void> {
  const { config, store, auth, router, audit, limits, metrics, consent } = deps;
  const parseTarget = returnTargetParser(config, router);
  const footer = config.domain;
  const html = (reply: FastifyReply, status: number, body: string) =>
    reply.code(status).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(body);

  const startHref = (id: string, target: ReturnTarget) => `/auth/start/${encodeURIComponent(id)}?rd=${encodeURIComponent(returnTargetToString(target))}`;

  const choices = (target: ReturnTarget) => [
    ...[...auth.providers.values()].map((p) => ({ kind: p.kind, name: p.name, href: startHref(p.id, target) })),
    ...(auth.localAccounts ? [{ kind: 'local' as const, name: 'a Postern account', href: startHref('local', target) }] : []),
  ];

  /**
   * Hands a login to where the person was going: a socket host gets a one-time code, never the
   * cookie. The code is bound to the nonce (`bind`) the socket host's `/.postern/signin` put in this
   * browser; without one the browser first goes there to get it, and comes back here. The first
   * time a socket of another account is to learn who the person is, they are asked first; codes
   * (a row each, and a session when redeemed) are rate limited per login session and per address.
   */
  const handoff = async (request: FastifyRequest, reply: FastifyReply, login: { record: SessionRecord; user: User }, target: ReturnTarget, bind?: string) => {
    if (target.socketOrigin) {
      const route = await router.route(new URL(target.socketOrigin).host);
      if (route.kind === 'socket') {
        if (!isHandoffNonce(bind)) return reply.redirect(`${target.socketOrigin}/.postern/signin?path=${encodeURIComponent(target.path)}`, 302);
        const question = await consent.question(login.user, route.socket, route.host);
        if (question) {
          return html(reply, 200, handoffConsentPage({ question, action: '/auth/handoff', rd: returnTargetToString(target), bind, cancelHref: '/', footer }));
        }
        const refused = limits.take(['handoffPerSession', login.record.idHash], ['handoffPerAddress', clientAddress(request.raw)]);
        if (refused) return refuse(request, reply, refused);
        const code = await auth.sessions.issueHandoff(login.record, route.socket.id, target.path, bind);
        return reply.redirect(`${target.socketOrigin}/.postern/callback?code=${encodeURIComponent(code)}`, 302);
      }
    }
    return reply.redirect(target.path, 302);
  };

  /** A POST to the edge must come from the edge's own pages (siblings are same-site: SameSite does not stop them). */
  const fromEdgePage = (request: FastifyRequest): boolean => isSameOriginRequest(request.raw, auth.edgeUrl);

  /** Sign-ins are audited for the owner of the socket the person was going to, else for their own account. */
  const auditSignIn = async (request: FastifyRequest, type: 'signin' | 'signin.failed' | 'signin.notice', who: string | null, provider: string, target: ReturnTarget | undefined, reason?: string) => {
    const route = target?.socketOrigin ? await router.route(new URL(target.socketOrigin).host) : undefined;
    const socket = route?.kind === 'socket' ? route.socket : undefined;
    const ownAccount = who ? await store.accounts.findByEmail(who) : undefined;
    if (type !== 'signin.notice') metrics.signIn(provider, type === 'signin');
    audit.record({
      type,
      accountId: socket?.accountId ?? ownAccount?.id ?? null,
      socketId: socket?.id ?? null,
      actor: who,
      remote: clientAddress(request.raw),
      detail: { provider, ...(reason ? { reason } : {}) },
    });
  };

  const finishLogin = async (request: FastifyRequest, reply: FastifyReply, identity: VerifiedIdentity, provider: string, target: ReturnTarget, signIn?: SignIn) => {
    const user = await store.users.upsert(identity);
    const who = identity.email ?? `${identity.issuer} ${identity.subject}`;
    await auditSignIn(request, 'signin', who, provider, target);
    const { handle, record } = await auth.sessions.createLogin(user.id);
    // The login follows its IdP session from now on (re-validation, back-channel logout).
    if (signIn) await auth.idp.attach(record, provider, signIn);
    for (const notice of signIn?.notices ?? []) {
      request.log.warn({ provider, user: who, notice: notice.code }, notice.message);
      await auditSignIn(request, 'signin.notice', who, provider, target, notice.message);
    }
    reply.header('set-cookie', [
      setCookie(auth.cookies.login, handle, { secure: auth.secure, maxAgeSeconds: Math.floor(config.auth.sessionTtlMs / 1000) }),
      clearCookie(auth.cookies.transaction, auth.secure),
    ]);
    return handoff(request, reply, { record, user }, target);
  };

  /** A 429 as the edge's error page (or JSON for programs). */
  const refuse = (request: FastifyRequest, reply: FastifyReply, err: EdgeError) => {
    reply.hijack();
    sendError(request.raw, reply.raw, err);
  };

  const failed = (reply: FastifyReply, reason: string, target?: ReturnTarget, status = 400) =>
    html(reply, status, signInFailedPage({ reason, retryHref: `/auth/login?rd=${encodeURIComponent(target ? returnTargetToString(target) : '/')}`, footer }));

  const newTransaction = async (reply: FastifyReply, provider: string, target: ReturnTarget, secrets = {}) => {
    const tx = randomHandle();
    await store.transactions.create(tx, { provider, secrets, returnTo: returnTargetToString(target) }, TRANSACTION_TTL_MS);
    reply.header('set-cookie', setCookie(auth.cookies.transaction, tx, { secure: auth.secure, maxAgeSeconds: TRANSACTION_TTL_MS / 1000 }));
    return tx;
  };

  app.get('/auth/login', async (request: FastifyRequest<{ Querystring: Query }>, reply) => {
    const target = await parseTarget(request.query.rd);
    if (request.query.switch === undefined) {
      const login = await auth.sessions.resolve(readCookie(request.raw, auth.cookies.login), null);
      if (login) return handoff(request, reply, login, target, request.query.bind);
    }
    const options = choices(target);
    if (options.length === 1) return reply.redirect(options[0]!.href, 302);
    return html(reply, 200, loginChooserPage(options, target.socketOrigin ?? config.domain, footer));
  });

  app.get('/auth/start/:provider', async (request: FastifyRequest<{ Params: { provider: string }; Querystring: Query }>, reply) => {
    // Each start is a row in SQLite: a flood from one address must not fill the table.
    const refused = limits.take(['signinPerAddress', clientAddress(request.raw)]);
    if (refused) return refuse(request, reply, refused);
    const target = await parseTarget(request.query.rd);
    if (request.params.provider === 'local' && auth.localAccounts) {
      const tx = await newTransaction(reply, 'local', target);
      return html(reply, 200, localLoginPage({ transaction: tx, action: '/auth/local', footer }));
    }
    const provider = auth.providers.get(request.params.provider);
    if (!provider) return failed(reply, 'That sign-in method is not configured on this edge.', target);
    const state = randomHandle();
    const { url, secrets } = await provider.authorizationUrl({ state, redirectUri: auth.redirectUri });
    await store.transactions.create(state, { provider: provider.id, secrets, returnTo: returnTargetToString(target) }, TRANSACTION_TTL_MS);
    reply.header('set-cookie', setCookie(auth.cookies.transaction, state, { secure: auth.secure, maxAgeSeconds: TRANSACTION_TTL_MS / 1000 }));
    return reply.redirect(url.href, 302);
  });

  app.get('/auth/callback', async (request: FastifyRequest<{ Querystring: Query }>, reply) => {
    const state = request.query.state;
    // The transaction must come back to the browser that started it (login CSRF, swapped state).
    if (!state || readCookie(request.raw, auth.cookies.transaction) !== state) {
      return failed(reply, 'This sign-in was started in another browser, or it expired. Please start again.');
    }
    const tx = await store.transactions.consume(state);
    const provider = tx && auth.providers.get(tx.provider);
    if (!tx || !provider) return failed(reply, 'This sign-in expired or was already used. Please start again.');
    const target = await parseTarget(tx.returnTo);
    let signIn: SignIn;
    try {
      signIn = await provider.complete({ callbackUrl: new URL(request.url, auth.edgeUrl), state, redirectUri: auth.redirectUri, secrets: tx.secrets });
    } catch (err) {
      if (!(err instanceof ProviderError)) throw err;
      request.log.info({ provider: provider.id, reason: err.message }, 'sign-in failed');
      await auditSignIn(request, 'signin.failed', null, provider.id, target, err.message);
      return failed(reply, `${provider.name} sign-in failed: ${err.message}`, target);
    }
    request.log.info({ provider: provider.id, user: signIn.identity.email ?? signIn.identity.subject }, 'signed in');
    return finishLogin(request, reply, signIn.identity, provider.id, target, signIn);
  });

  /** The interstitial's "Continue": remembered, then the hand-off goes on. */
  app.post('/auth/handoff', async (request: FastifyRequest<{ Body: Query }>, reply) => {
    if (!fromEdgePage(request)) return failed(reply, 'This confirmation must come from this edge’s own page.', undefined, 403);
    const target = await parseTarget(request.body?.rd);
    const login = await auth.sessions.resolve(readCookie(request.raw, auth.cookies.login), null);
    if (!login) return reply.redirect(`/auth/login?rd=${encodeURIComponent(returnTargetToString(target))}`, 303);
    const route = target.socketOrigin ? await router.route(new URL(target.socketOrigin).host) : undefined;
    if (route?.kind === 'socket') await consent.grant(login.user, route.socket, clientAddress(request.raw));
    return handoff(request, reply, login, target, request.body?.bind);
  });

  /** The portal's "Withdraw": the socket stops learning who the person is (their sessions there end too). */
  app.post('/auth/consents/revoke', async (request: FastifyRequest<{ Body: Query }>, reply) => {
    if (!fromEdgePage(request)) return failed(reply, 'This must be sent from this edge’s own page.', undefined, 403);
    const login = await auth.sessions.resolve(readCookie(request.raw, auth.cookies.login), null);
    if (!login) return reply.redirect('/auth/login?rd=%2F', 303);
    const label = request.body?.socket ?? '';
    const socket = /^[a-z0-9-]{1,63}$/.test(label) ? await store.sockets.findByHostname(label) : undefined;
    if (socket) await consent.revoke(login.user, socket, clientAddress(request.raw));
    return reply.redirect('/', 303);
  });

  app.post('/auth/local', async (request: FastifyRequest<{ Body: Query }>, reply) => {
    // Login CSRF: a sibling's page auto-posting the attacker's credentials (with a tossed transaction cookie).
    if (!fromEdgePage(request)) return failed(reply, 'This sign-in form must be sent from this edge’s own page. Please start again.', undefined, 403);
    const body = request.body ?? {};
    const txId = body.tx;
    if (!auth.localAccounts || !txId || readCookie(request.raw, auth.cookies.transaction) !== txId) {
      return failed(reply, 'This sign-in was started in another browser, or it expired. Please start again.');
    }
    const tx = await store.transactions.consume(txId);
    if (!tx || tx.provider !== 'local') return failed(reply, 'This sign-in expired or was already used. Please start again.');
    const target = await parseTarget(tx.returnTo);
    const email = normalizeEmail((body.email ?? '').trim());
    // Counted before the password is checked (parallel guesses cannot slip through), given back on
    // success; while limited even the right password is refused, so a guess learns nothing.
    const attempt: Hit[] = [['loginPerAddress', clientAddress(request.raw)], ...(email ? [['loginPerEmail', email] as const] : [])];
    const refused = limits.take(...attempt);
    if (refused) {
      const retry = await newTransaction(reply, 'local', target);
      reply.headers(refused.headers);
      return html(reply, 429, localLoginPage({ transaction: retry, action: '/auth/local', error: refused.message, email: body.email ?? '', footer }));
    }
    const account = email ? await store.accounts.findByEmail(email) : undefined;
    const stored = account ? await store.passwords.get(account.id) : undefined;
    // Always verify (against a dummy when there is no account) so timing does not reveal accounts.
    const ok = await verifyPassword(body.password ?? '', stored ?? null);
    if (!ok || !account) {
      request.log.info({ provider: 'local' }, 'sign-in failed: wrong email or password');
      await auditSignIn(request, 'signin.failed', email, 'local', target, 'wrong email or password');
      const retry = await newTransaction(reply, 'local', target);
      return html(reply, 401, localLoginPage({ transaction: retry, action: '/auth/local', error: 'Wrong email or password.', email: body.email ?? '', footer }));
    }
    limits.refund(...attempt);
    request.log.info({ provider: 'local', user: account.email }, 'signed in');
    const identity = { issuer: LOCAL_ISSUER, subject: account.id, email: account.email, name: null, groups: [], githubOrgs: [], githubTeams: [] };
    return finishLogin(request, reply, identity, 'local', target);
  });

  app.get('/auth/signout', async (request, reply) => {
    const login = await auth.sessions.resolve(readCookie(request.raw, auth.cookies.login), null);
    if (!login) return html(reply, 200, signedOutPage({ scope: 'none', signInHref: '/auth/login', footer }));
    return html(reply, 200, signOutConfirmPage({ who: login.user.email ?? login.user.subject, action: '/auth/signout', footer, place: 'edge' }));
  });

  app.post('/auth/signout', async (request: FastifyRequest<{ Body: Query }>, reply) => {
    if (!fromEdgePage(request)) return failed(reply, 'Sign-out must be confirmed from this edge’s own page.', undefined, 403);
    const login = await auth.sessions.resolve(readCookie(request.raw, auth.cookies.login), null);
    const everywhere = request.body?.scope === 'everywhere';
    // RP-initiated logout, where the issuer has it on: read before the grant's login is signed out.
    const idpLogout = login ? await auth.idp.endSessionUrl(login.record, `${auth.edgeUrl}${SIGNED_OUT_PATH}`) : undefined;
    if (login) {
      if (everywhere) await auth.sessions.signOutEverywhere(login.user.id);
      else await auth.sessions.signOut(login.record);
      request.log.info({ user: login.user.email ?? login.user.id, everywhere }, 'signed out');
      const ownAccount = login.user.email ? await store.accounts.findByEmail(login.user.email) : undefined;
      audit.record({ type: 'signout', accountId: ownAccount?.id ?? null, actor: login.user.email ?? login.user.id, remote: clientAddress(request.raw), detail: { everywhere } });
    }
    reply.header('set-cookie', clearCookie(auth.cookies.login, auth.secure));
    if (idpLogout) return reply.redirect(idpLogout.href, 303);
    return html(reply, 200, signedOutPage({ scope: !login ? 'none' : everywhere ? 'everywhere' : 'portal', signInHref: '/auth/login', footer }));
  });

  app.get('/.well-known/jwks.json', async (_request, reply) => reply.header('cache-control', 'public, max-age=300').send(auth.signer.jwks));
}
