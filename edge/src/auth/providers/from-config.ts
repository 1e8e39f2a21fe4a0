import type { ProviderConfig } from '../../config-identity.js';
import { createFacebookProvider } from './facebook.js';
import { createGithubProvider } from './github.js';
import { GoogleDirectory } from './google-directory.js';
import { createOidcProvider } from './oidc.js';
import type { RedirectProvider } from './types.js';

/** Google issues a refresh token only for `access_type=offline`, and again only when consent is asked. */
const GOOGLE_OFFLINE = { access_type: 'offline', prompt: 'consent' } as const;

/** Builds one sign-in provider from its settings (OIDC discovery happens here). */
export async function createProvider(p: ProviderConfig, options: { readonly revalidateMs: number; readonly warn: (msg: string) => void }): Promise<RedirectProvider> {
  switch (p.kind) {
    case 'github':
      return createGithubProvider({ clientId: p.clientId, clientSecret: p.clientSecret, ...(p.webUrl ? { webUrl: p.webUrl } : {}), ...(p.apiUrl ? { apiUrl: p.apiUrl } : {}) });
    case 'facebook':
      return createFacebookProvider({ clientId: p.clientId, clientSecret: p.clientSecret, ...(p.webUrl ? { webUrl: p.webUrl } : {}), ...(p.graphUrl ? { graphUrl: p.graphUrl } : {}) });
    default: {
      const directory = p.directory
        ? await GoogleDirectory.create({ ...p.directory, cacheMs: Math.floor(options.revalidateMs / 2) })
        : undefined;
      return createOidcProvider({
        id: p.id,
        name: p.name,
        kind: p.kind,
        issuer: p.issuer,
        clientId: p.clientId,
        clientSecret: p.clientSecret,
        idTokenAlg: p.idTokenAlg,
        scopes: p.scopes,
        claims: {
          emailClaim: p.emailClaim,
          groupsClaim: p.groupsClaim,
          trustEmail: p.trustEmail,
          requireMfa: p.requireMfa,
          tenants: p.tenants,
          hostedDomain: p.hostedDomain,
        },
        ...(p.kind === 'google' ? { authorizationParams: { ...GOOGLE_OFFLINE, ...(p.hostedDomain ? { hd: p.hostedDomain } : {}) } } : {}),
        ...(directory ? { groupsSource: directory } : {}),
        rpLogout: p.rpLogout,
        logWarning: options.warn,
      });
    }
  }
}
