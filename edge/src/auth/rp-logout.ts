import type { FastifyInstance } from 'fastify';
import type { EdgeConfig } from '../config.js';
import { idpSignedOutPage } from '../pages/idp-pages.js';

/**
 * Where the IdP sends the browser back after RP-initiated logout (`post_logout_redirect_uri`,
 * registered at the IdP next to the redirect URI). The edge session ended before the browser left.
 */
export const SIGNED_OUT_PATH = '/auth/signed-out';

export async function rpLogoutRoutes(app: FastifyInstance, deps: { config: EdgeConfig }): Promise<void> {
  app.get(SIGNED_OUT_PATH, async (_request, reply) =>
    reply.code(200).header('cache-control', 'no-store').type('text/html; charset=utf-8').send(idpSignedOutPage({ signInHref: '/auth/login', footer: deps.config.domain })),
  );
}
