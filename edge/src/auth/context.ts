import { ConfigError, type EdgeConfig } from '../config.js';
import type { Store } from '../store/index.js';
import { AssertionSigner } from './assertion.js';
import { cookieNames, type CookieNames } from './cookies.js';
import { LiveConnections } from './live-connections.js';
import { createGithubProvider } from './providers/github.js';
import { createOidcProvider } from './providers/oidc.js';
import type { RedirectProvider } from './providers/types.js';
import { SessionService } from './sessions.js';

/** Live-connection key of a stream opened with a Postern token (sessions use their hash). */
export const TOKEN_CREDENTIAL = 'token:';

/** Everything sign-in needs, built once at start-up (OIDC discovery, signing keys). */
export interface AuthContext {
  readonly edgeUrl: string;
  readonly secure: boolean;
  readonly cookies: CookieNames;
  readonly providers: ReadonlyMap<string, RedirectProvider>;
  readonly localAccounts: boolean;
  readonly sessions: SessionService;
  readonly signer: AssertionSigner;
  readonly live: LiveConnections;
  /** `<edge URL>/auth/callback`: the redirect URI registered at every IdP. */
  readonly redirectUri: string;
}

export async function createAuthContext(config: EdgeConfig, store: Store, warn: (msg: string) => void): Promise<AuthContext> {
  const edgeUrl = `${config.publicScheme}://${config.domain}`;
  const providers = new Map<string, RedirectProvider>();
  for (const p of config.auth.providers) {
    try {
      const provider =
        p.kind === 'oidc'
          ? await createOidcProvider({ id: p.id, name: p.name, issuer: p.issuer, clientId: p.clientId, clientSecret: p.clientSecret, logWarning: warn })
          : createGithubProvider({
              clientId: p.clientId,
              clientSecret: p.clientSecret,
              ...(p.webUrl ? { webUrl: p.webUrl } : {}),
              ...(p.apiUrl ? { apiUrl: p.apiUrl } : {}),
            });
      providers.set(provider.id, provider);
    } catch (err) {
      // A provider that cannot be set up (no discovery, http issuer off loopback) stops the edge with one line.
      throw new ConfigError((err as Error).message, { cause: err });
    }
  }
  let live: LiveConnections | undefined;
  const sessions = new SessionService(
    store,
    { absoluteMs: config.auth.sessionTtlMs, idleMs: config.auth.sessionIdleMs },
    (hashes) => live?.close(hashes),
  );
  live = new LiveConnections((credential) =>
    credential.startsWith(TOKEN_CREDENTIAL) ? store.tokens.findLive(credential.slice(TOKEN_CREDENTIAL.length)) : sessions.isLive(credential),
  );
  const secure = config.publicScheme === 'https';
  return {
    edgeUrl,
    secure,
    cookies: cookieNames(secure),
    providers,
    localAccounts: config.auth.localAccounts,
    sessions,
    signer: await AssertionSigner.load(store.signingKeys, edgeUrl),
    live,
    redirectUri: `${edgeUrl}/auth/callback`,
  };
}
