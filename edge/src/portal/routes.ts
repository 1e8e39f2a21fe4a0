import type { FastifyInstance } from 'fastify';
import type { AuthContext } from '../auth/context.js';
import { readCookie } from '../auth/cookies.js';
import { clientAddress } from '../net/client-address.js';
import { wantsJson } from '../pages/error-page.js';
import { FAVICON_HEADERS, FAVICON_PATH, FAVICON_SVG } from '../pages/favicon.js';
import { portalPage, portalSignedOutPage } from '../pages/portal-page.js';
import { ConnectionCensus } from '../api/views.js';
import { buildPortal, type PortalDeps } from './portal-view.js';

export interface PortalRouteDeps extends PortalDeps {
  readonly auth: AuthContext;
}

const SIGN_IN_HREF = '/auth/login?rd=/';
const SIGN_OUT_HREF = '/auth/signout';

/**
 * The edge's home page: who is signed in on the edge host, the apps they may open, their own
 * sockets. HTML for browsers, the same data as JSON for `Accept: application/json`.
 */
export async function portalRoutes(app: FastifyInstance, deps: PortalRouteDeps): Promise<void> {
  const { config, auth } = deps;

  // Browsers ask every host for /favicon.ico; on a socket's host it is the app's, here it is ours.
  for (const path of ['/favicon.ico', FAVICON_PATH]) app.get(path, async (_request, reply) => reply.headers(FAVICON_HEADERS).send(FAVICON_SVG));

  app.get('/', async (request, reply) => {
    // Per person and live: never stored by a browser or a shared cache.
    reply.header('cache-control', 'no-store').header('vary', 'accept, cookie');
    const json = wantsJson(request.raw);
    const login = await auth.sessions.resolve(readCookie(request.raw, auth.cookies.login), null);
    if (!login) {
      if (json) return { edge: config.domain, user: null, apps: [], sockets: [], sign_in: SIGN_IN_HREF };
      return reply.type('text/html; charset=utf-8').send(portalSignedOutPage({ domain: config.domain, signInHref: SIGN_IN_HREF, footer: config.domain }));
    }
    const view = await buildPortal(deps, await ConnectionCensus.take(deps.store.cluster, deps.registry), login.user, clientAddress(request.raw) || null);
    if (json) return view;
    return reply.type('text/html; charset=utf-8').send(portalPage(view, { signOutHref: SIGN_OUT_HREF, footer: config.domain, now: Date.now() }));
  });
}
