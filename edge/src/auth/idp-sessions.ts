import type { Store } from '../store/index.js';
import { IdpGrantStore, type IdpGrantRecord } from '../store/idp-grants.js';
import type { SessionRecord } from '../store/sessions.js';
import type { GrantSeal } from './grant-seal.js';
import type { ProviderGrant, RedirectProvider, SignIn } from './providers/types.js';
import type { SessionService } from './sessions.js';


/**
 * The link between the edge's sessions and the IdP sessions they came from. At sign-in the login
 * session gets a grant (the IdP's `sid`, and the sealed credential re-validation uses); the socket
 * sessions handed off from that login, and the tokens `postern login` makes with it, follow it.
 * Ending a grant ends all of them, live WebSockets and TCP streams included.
 */
export class IdpSessions {
  constructor(
    private readonly store: Store,
    private readonly providers: ReadonlyMap<string, RedirectProvider>,
    private readonly seals: ReadonlyMap<string, GrantSeal>,
    private readonly sessions: SessionService,
    readonly revalidateMs: number,
  ) {}

  /** Remembers what the IdP granted this login. Only credentials are sealed; the `sid` stays searchable. */
  async attach(login: SessionRecord, providerId: string, signIn: SignIn, now = Date.now()): Promise<IdpGrantRecord> {
    const id = IdpGrantStore.newId();
    const { sid, ...rest } = signIn.grant;
    const credential = credentialOf(rest);
    const seal = this.seals.get(providerId);
    const sealed = credential && seal ? await seal.seal(id, credential) : null;
    return this.store.idpGrants.create({
      id,
      loginHash: login.idHash,
      userId: login.userId,
      provider: providerId,
      sid: sid ?? null,
      sealed,
      revalidateAt: sealed && (credential?.refreshToken || credential?.accessToken) ? now + this.revalidateMs : null,
    }, now);
  }

  /** The credential a grant holds; undefined when there is none or it no longer opens (the client secret changed). */
  open(grant: IdpGrantRecord): Promise<ProviderGrant | undefined> {
    const seal = this.seals.get(grant.provider);
    return grant.sealed && seal ? seal.open(grant.id, grant.sealed) : Promise.resolve(undefined);
  }

  /** Seals a re-validated credential (refresh tokens rotate) and schedules the next re-validation. */
  async validated(grant: IdpGrantRecord, next: ProviderGrant, now = Date.now()): Promise<void> {
    const { sid, ...rest } = next;
    const credential = credentialOf(rest);
    const seal = this.seals.get(grant.provider);
    const sealed = credential && seal ? await seal.seal(grant.id, credential) : null;
    await this.store.idpGrants.validated(grant.id, { sealed, sid: sid ?? grant.sid, revalidateAt: sealed ? now + this.revalidateMs : null }, now);
  }

  /**
   * The IdP no longer vouches for this sign-in: its login session, the socket sessions handed off
   * from it and the tokens made with it end now (their live streams close), and the grant goes.
   */
  async endGrant(grant: IdpGrantRecord): Promise<{ readonly tokens: readonly string[] }> {
    await this.endLogin(grant);
    const tokens = await this.store.idpGrants.liveTokens(grant.id);
    // Each revocation is published: every edge closes the token's tunnels and streams (cluster/change-reactions.ts).
    for (const id of tokens) await this.store.tokens.revoke(id);
    await this.store.idpGrants.remove(grant.id);
    return { tokens };
  }

  /**
   * The person signed out at the IdP (back-channel logout): the browser sessions of that IdP
   * session end now. Tokens made with it keep following the grant: the IdP answers their next
   * re-validation (a logout usually revokes the refresh token too).
   */
  async endIdpSession(grant: IdpGrantRecord, now = Date.now()): Promise<void> {
    await this.endLogin(grant);
    if ((await this.store.idpGrants.liveTokens(grant.id, now)).length === 0) await this.store.idpGrants.remove(grant.id);
  }

  /**
   * RP-initiated logout: where to send the browser so the IdP ends its session too, when the
   * issuer has it turned on. Read before the login is signed out.
   */
  async endSessionUrl(login: SessionRecord, postLogoutRedirectUri: string): Promise<URL | undefined> {
    const grant = await this.store.idpGrants.findByLogin(login.idHash);
    const oidc = grant && this.providers.get(grant.provider)?.oidc;
    if (!grant || !oidc?.endSessionEndpoint) return undefined;
    const url = new URL(oidc.endSessionEndpoint);
    const idToken = (await this.open(grant))?.idToken;
    if (idToken) url.searchParams.set('id_token_hint', idToken);
    url.searchParams.set('client_id', oidc.clientId);
    url.searchParams.set('post_logout_redirect_uri', postLogoutRedirectUri);
    return url;
  }

  /** `postern login` approved in a browser signed in with `loginHash`: its token will follow that grant. */
  async deviceApproved(deviceHash: string, loginHash: string, expiresAt: number): Promise<void> {
    const grant = await this.store.idpGrants.findByLogin(loginHash);
    if (grant) await this.store.idpGrants.linkDevice(deviceHash, grant.id, expiresAt);
  }

  async tokenIssued(deviceHash: string, tokenId: string): Promise<void> {
    await this.store.idpGrants.linkTokenOfDevice(deviceHash, tokenId);
  }

  /** Signs the login out with every socket session handed off from it (their streams close). */
  private async endLogin(grant: IdpGrantRecord): Promise<void> {
    const login = await this.store.sessions.find(grant.loginHash);
    if (login) await this.sessions.signOut(login);
  }
}

/** Only what re-validation and logout use; undefined when nothing is left. */
function credentialOf(grant: Omit<ProviderGrant, 'sid'>): Omit<ProviderGrant, 'sid'> | undefined {
  const { refreshToken, accessToken, idToken } = grant;
  if (!refreshToken && !accessToken && !idToken) return undefined;
  return { ...(refreshToken ? { refreshToken } : {}), ...(accessToken ? { accessToken } : {}), ...(idToken ? { idToken } : {}) };
}
