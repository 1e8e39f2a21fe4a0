import { ConfigError, type EdgeConfig } from '../config.js';
import type { StoreHealth } from '../observability/store-health.js';
import type { Store } from '../store/index.js';
import { AssertionSigner } from './assertion.js';
import { cookieNames, type CookieNames } from './cookies.js';
import { TOKEN_CREDENTIAL } from './credential-keys.js';
import { GrantSeal } from './grant-seal.js';
import { IdpSessions } from './idp-sessions.js';
import { LiveConnections } from './live-connections.js';
import { StoreOutageGrace } from './outage-grace.js';
import { createProvider } from './providers/from-config.js';
import type { RedirectProvider } from './providers/types.js';
import { SessionService } from './sessions.js';
import { TokenCache } from './token-cache.js';

export { TOKEN_CREDENTIAL } from './credential-keys.js';

/** Everything sign-in needs, built once at start-up (OIDC discovery, signing keys). */
export interface AuthContext {
  readonly edgeUrl: string;
  readonly secure: boolean;
  readonly cookies: CookieNames;
  readonly providers: ReadonlyMap<string, RedirectProvider>;
  readonly localAccounts: boolean;
  readonly sessions: SessionService;
  /** Token checks of the request path and the tunnel/TCP handshakes (evicted by `token` changes). */
  readonly tokens: TokenCache;
  readonly signer: AssertionSigner;
  readonly live: LiveConnections;
  /** What cached credentials may do while the database does not answer (--store-outage-grace). */
  readonly outage: StoreOutageGrace;
  /** Which IdP session each login came from, and what re-validates it. */
  readonly idp: IdpSessions;
  /** `<edge URL>/auth/callback`: the redirect URI registered at every IdP. */
  readonly redirectUri: string;
}

export async function createAuthContext(config: EdgeConfig, store: Store, storeHealth: StoreHealth, warn: (msg: string) => void): Promise<AuthContext> {
  const edgeUrl = `${config.publicScheme}://${config.domain}`;
  const providers = new Map<string, RedirectProvider>();
  const seals = new Map<string, GrantSeal>();
  for (const p of config.auth.providers) {
    try {
      providers.set(p.id, await createProvider(p, { revalidateMs: config.auth.sessionRevalidateMs, warn }));
    } catch (err) {
      // A provider that cannot be set up (no discovery, http issuer off loopback) stops the edge with one line.
      throw new ConfigError((err as Error).message, { cause: err });
    }
    seals.set(p.id, GrantSeal.forProvider(p.clientSecret, p.id));
  }
  const outage = new StoreOutageGrace(storeHealth, config.storeOutageGraceMs);
  const sessions = new SessionService(store, { absoluteMs: config.auth.sessionTtlMs, idleMs: config.auth.sessionIdleMs }, outage);
  const live = new LiveConnections((credential) =>
    (credential.startsWith(TOKEN_CREDENTIAL) ? store.tokens.findLive(credential.slice(TOKEN_CREDENTIAL.length)) : sessions.isLive(credential)).catch(
      // An open WebSocket or TCP stream whose credential cannot be checked lasts the grace, then closes.
      (err: unknown) => outage.holdsDuringOutage(err),
    ),
  );
  const secure = config.publicScheme === 'https';
  return {
    edgeUrl,
    secure,
    cookies: cookieNames(secure),
    providers,
    localAccounts: config.auth.localAccounts,
    sessions,
    tokens: new TokenCache(store.tokens),
    signer: await AssertionSigner.load(store.signingKeys, store.cluster.changes, edgeUrl),
    live,
    outage,
    idp: new IdpSessions(store, providers, seals, sessions, config.auth.sessionRevalidateMs),
    redirectUri: `${edgeUrl}/auth/callback`,
  };
}
