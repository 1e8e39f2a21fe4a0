import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { EdgeConfig } from '../config.js';
import type { RateLimits } from '../limits/rate-limits.js';
import { clientAddress } from '../net/client-address.js';
import { deviceCodePage, deviceConfirmPage, deviceDonePage } from '../pages/device-pages.js';
import { normalizeUserCode } from '../store/devices.js';
import type { Store } from '../store/index.js';
import type { AuthContext } from './context.js';
import { readCookie } from './cookies.js';
import { isSameOriginRequest } from './origin-check.js';
import type { DeviceFlow } from './device-flow.js';

type Form = Record<string, string | undefined>;

/** The browser half of `postern login`: `/device` on the edge host, behind the edge sign-in. */
export async function deviceRoutes(app: FastifyInstance, deps: { config: EdgeConfig; store: Store; auth: AuthContext; devices: DeviceFlow; limits: RateLimits }): Promise<void> {
  const { config, store, auth, devices, limits } = deps;
  const footer = config.domain;
  const page = (reply: FastifyReply, status: number, body: string) =>
    reply.code(status).header('cache-control', 'no-store').header('x-frame-options', 'DENY').type('text/html; charset=utf-8').send(body);
  const signedIn = (request: FastifyRequest) => auth.sessions.resolve(readCookie(request.raw, auth.cookies.login), null);

  app.get('/device', async (request: FastifyRequest<{ Querystring: { code?: string } }>, reply) => {
    const login = await signedIn(request);
    const code = request.query.code ? normalizeUserCode(request.query.code) : undefined;
    if (!login) return reply.redirect(`/auth/login?rd=${encodeURIComponent(code ? `/device?code=${code}` : '/device')}`, 302);
    return page(reply, 200, deviceCodePage({ who: login.user.email ?? login.user.subject, ...(code ? { code } : {}), footer }));
  });

  app.post('/device', async (request: FastifyRequest<{ Body: Form }>, reply) => {
    // Cookies are SameSite=Lax (not sent on cross-site POSTs); the Origin check also stops same-site forgeries.
    if (!isSameOriginRequest(request.raw, auth.edgeUrl)) return page(reply, 403, deviceDonePage({ approved: false, client: 'an unknown computer (the form came from another site)', footer }));
    const login = await signedIn(request);
    if (!login) return reply.redirect('/auth/login?rd=%2Fdevice', 302);
    const who = login.user.email ?? login.user.subject;
    // User codes are short: a signed-in person must not try them by the thousand.
    const refused = limits.take(['deviceApprovePerSession', login.record.idHash]);
    if (refused) return page(reply.headers(refused.headers), 429, deviceCodePage({ who, error: refused.message, footer }));
    const body = request.body ?? {};
    const code = normalizeUserCode(body.user_code ?? '');
    const pending = code ? await store.devices.findByUserCode(code) : undefined;
    if (!code || !pending || pending.status !== 'pending' || pending.expiresAt <= Date.now()) {
      return page(reply, 400, deviceCodePage({ who, code: body.user_code ?? '', error: 'That code is unknown, expired or already used. Check your terminal, or run "postern login" again.', footer }));
    }
    if (body.decision === 'confirm' || (body.decision !== 'approve' && body.decision !== 'deny')) {
      return page(reply, 200, deviceConfirmPage({ who, code, client: pending.clientName, address: pending.remote ?? 'unknown', footer }));
    }
    const result = await devices.answer(code, login.user, body.decision === 'approve', clientAddress(request.raw), login.record.idHash);
    if (!result.ok) return page(reply, 400, deviceCodePage({ who, error: result.message, footer }));
    return page(reply, 200, deviceDonePage({ approved: body.decision === 'approve', client: result.clientName, footer }));
  });
}
