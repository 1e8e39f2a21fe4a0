import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import type { OidcContext, Provider as ProviderType } from 'oidc-provider';
import { Agent, fetch as undiciFetch } from 'undici';
import { EdgeProcess, freePort } from './postern.js';
import type { WebClient } from './web-client.js';

/** What the test IdP says about one login name: the claims are the test's to choose. */
export interface IdpAccount {
  /** Default: the login name. */
  readonly sub?: string;
  readonly email?: string;
  /** A string only to test IdPs that send `"true"` (which is not `true`). */
  readonly email_verified?: boolean | string;
  readonly name?: string;
  readonly groups?: readonly string[];
  /** More ID token claims, as an IdP of some shape sends them (`tid`, `xms_edov`, `hd`, `amr`, `_claim_names`…). */
  readonly claims?: Readonly<Record<string, unknown>>;
  /** Disabled at the IdP: refresh tokens and new sign-ins of this login are refused. */
  readonly disabled?: boolean;
}

/** Claim names beyond the standard ones the IdP may put in ID tokens (the shapes of Entra ID, Google, dex). */
const SHAPE_CLAIMS = ['tid', 'xms_edov', 'hd', 'amr', '_claim_names', '_claim_sources', 'hasgroups'];

export interface IdpClient {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly redirectUris: readonly string[];
  /** OIDC Back-Channel Logout 1.0: where the IdP POSTs logout tokens (with `sid`). */
  readonly backchannelLogoutUri?: string;
  readonly postLogoutRedirectUris?: readonly string[];
}

export interface TestIdpOptions {
  readonly clients: readonly IdpClient[];
  readonly accounts?: Record<string, IdpAccount>;
  /** The issuer's path, e.g. `/<tenant>/v2.0` for an Entra-shaped issuer (the provider is mounted there). */
  readonly issuerPath?: string;
  /** dex's shape: `groups` only for the `groups` scope (otherwise with `profile`). */
  readonly groupsScope?: boolean;
  /** Issue refresh tokens (with or without offline_access, as Keycloak and Entra do). */
  readonly refreshTokens?: boolean;
}

/**
 * oidc-provider's outgoing requests (back-channel logout) go to loopback names here; its SSRF guard
 * (rightly) refuses special-use addresses, so the test IdP dials with a resolver of its own.
 */
const loopbackAgent = new Agent({
  connect: {
    lookup: (hostname: string, options: unknown, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void) => {
      if (hostname === 'localhost' || hostname.endsWith('.localhost')) {
        const all = typeof options === 'object' && options !== null && (options as { all?: boolean }).all;
        return all ? callback(null, [{ address: '127.0.0.1', family: 4 }]) : callback(null, '127.0.0.1', 4);
      }
      dnsLookup(hostname, options as never, callback as never);
    },
  },
});

/** oidc-provider announces its development features loudly; the tests know. */
function silenceOidcProviderNotices(): void {
  const flag = Symbol.for('postern.test.oidc-provider-quiet');
  const g = globalThis as Record<symbol, unknown>;
  if (g[flag]) return;
  g[flag] = true;
  for (const level of ['warn', 'info'] as const) {
    const original = console[level].bind(console);
    console[level] = (...args: unknown[]) => {
      if (typeof args[0] === 'string' && args[0].startsWith('oidc-provider ')) return;
      original(...args);
    };
  }
}

/**
 * A real OpenID provider (`oidc-provider`) on 127.0.0.1, plain http, in the test process.
 *
 * - devInteractions: its login form takes any login name and password; the login name picks an
 *   entry of `accounts` (unknown names get only a `sub`).
 * - Consent is granted automatically (loadExistingGrant), so a browser only sees the login form.
 * - `conformIdTokenClaims: false`: email, email_verified, name and groups are in the ID token.
 * - ID tokens are RS256 with a key made here.
 */
export class TestIdp {
  /** Login name → claims. Change it at any time; the next sign-in reads it. */
  readonly accounts = new Map<string, IdpAccount>();
  /** Paths requested at the IdP (for assertions like "the token endpoint was called"). */
  readonly requests: { method: string; path: string }[] = [];
  /** Back-channel logout deliveries: `ok`, or the error the IdP saw. */
  readonly backchannel: { ok: boolean; error?: string }[] = [];
  private readonly sockets = new Set<Socket>();

  private constructor(
    readonly server: http.Server,
    readonly port: number,
    readonly provider: ProviderType,
    readonly issuerPath: string,
    /** The ID token signing key: tests sign genuine (and forged) logout tokens with it. */
    readonly signingKey: CryptoKey,
  ) {}

  get issuer(): string {
    return `http://127.0.0.1:${this.port}${this.issuerPath}`;
  }

  static async start(options: TestIdpOptions): Promise<TestIdp> {
    silenceOidcProviderNotices();
    const { default: Provider } = await import('oidc-provider');
    const server = http.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const { privateKey } = await generateKeyPair('RS256', { extractable: true });
    const signingKey = { ...(await exportJWK(privateKey)), kid: 'test-idp-rs256', alg: 'RS256', use: 'sig' };
    const issuerPath = options.issuerPath ?? '';

    // The account table lives on the instance; findAccount reads it through this holder.
    const holder: { idp?: TestIdp } = {};
    const provider = new Provider(`http://127.0.0.1:${port}${issuerPath}`, {
      clients: options.clients.map((c) => ({
        client_id: c.clientId,
        client_secret: c.clientSecret,
        redirect_uris: [...c.redirectUris],
        grant_types: options.refreshTokens ? ['authorization_code', 'refresh_token'] : ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
        ...(c.backchannelLogoutUri ? { backchannel_logout_uri: c.backchannelLogoutUri, backchannel_logout_session_required: true } : {}),
        ...(c.postLogoutRedirectUris ? { post_logout_redirect_uris: [...c.postLogoutRedirectUris] } : {}),
      })),
      jwks: { keys: [signingKey] },
      cookies: { keys: ['postern-test-idp-cookie-key-0123456789'] },
      claims: {
        openid: ['sub', ...SHAPE_CLAIMS],
        email: ['email', 'email_verified'],
        ...(options.groupsScope ? { profile: ['name'], groups: ['groups'] } : { profile: ['name', 'groups'] }),
      },
      conformIdTokenClaims: false,
      features: {
        devInteractions: { enabled: true },
        backchannelLogout: { enabled: true },
        rpInitiatedLogout: { enabled: true },
      },
      pkce: { required: () => true },
      // Keycloak and Entra issue refresh tokens without a consent prompt; oidc-provider would want prompt=consent.
      issueRefreshToken: async (_ctx: unknown, client: { grantTypeAllowed(type: string): boolean }) => client.grantTypeAllowed('refresh_token'),
      fetch: (url: string, init: Record<string, unknown>) => undiciFetch(url, { ...init, dispatcher: loopbackAgent } as never),
      async findAccount(_ctx: unknown, id: string) {
        const account = holder.idp?.accounts.get(id) ?? {};
        // A disabled user is unknown to the IdP: sign-ins and refresh tokens fail (invalid_grant).
        if (account.disabled) return undefined;
        return {
          accountId: id,
          async claims() {
            const claims: Record<string, unknown> = { ...account.claims, sub: account.sub ?? id };
            if (account.email !== undefined) claims.email = account.email;
            if (account.email_verified !== undefined) claims.email_verified = account.email_verified;
            if (account.name !== undefined) claims.name = account.name;
            if (account.groups !== undefined) claims.groups = [...account.groups];
            return claims;
          },
        };
      },
      // First-party client: consent is implied (the documented way to skip the consent prompt).
      async loadExistingGrant(ctx: OidcContext) {
        const { oidc } = ctx;
        const clientId = oidc.client?.clientId;
        const accountId = oidc.session?.accountId;
        if (!clientId || !accountId) return undefined;
        // How the person authenticated (`amr`) is the IdP session's, not a profile claim: oidc-provider
        // takes it from the login; the development login form records none, so the account says it.
        const amr = holder.idp?.accounts.get(accountId)?.claims?.amr;
        if (Array.isArray(amr) && oidc.session) oidc.session.amr = amr.map(String);
        const existing = oidc.result?.consent?.grantId ?? oidc.session?.grantIdFor(clientId);
        if (existing) {
          const found = await oidc.provider.Grant.find(existing);
          if (found) return found;
        }
        const grant = new oidc.provider.Grant({ clientId, accountId });
        grant.addOIDCScope(oidc.params?.scope ?? 'openid email profile');
        grant.addOIDCClaims(['email', 'email_verified', 'name', 'groups', ...SHAPE_CLAIMS]);
        await grant.save();
        return grant;
      },
    });
    const idp = new TestIdp(server, port, provider, issuerPath, privateKey);
    provider.on('backchannel.success', () => idp.backchannel.push({ ok: true }));
    provider.on('backchannel.error', (_ctx: unknown, err: unknown) => idp.backchannel.push({ ok: false, error: String((err as Error).message) }));
    holder.idp = idp;
    for (const [login, account] of Object.entries(options.accounts ?? {})) idp.accounts.set(login, account);
    const callback = provider.callback();
    server.on('connection', (socket: Socket) => {
      idp.sockets.add(socket);
      socket.on('close', () => idp.sockets.delete(socket));
    });
    server.on('request', (req: http.IncomingMessage & { originalUrl?: string }, res) => {
      idp.requests.push({ method: req.method ?? '', path: (req.url ?? '').split('?')[0]! });
      // Mounted at the issuer's path, as express or koa-mount would (oidc-provider reads originalUrl).
      if (issuerPath) {
        const url = req.url ?? '/';
        if (!url.startsWith(issuerPath)) {
          res.writeHead(404).end();
          return;
        }
        req.originalUrl = url;
        req.url = url.slice(issuerPath.length) || '/';
      }
      callback(req, res);
    });
    return idp;
  }

  /**
   * The person signs out at the IdP in `browser` (its end_session page, "Yes, sign me out"): the IdP
   * ends its session, revokes the grants and POSTs a logout token to each client's back-channel URI.
   * Resolves once the IdP answered (it sends the logout tokens before it answers), with where it
   * sends the browser next (the post_logout_redirect_uri of an RP-initiated logout).
   */
  async signOutAt(browser: WebClient, endSessionUrl = `${this.issuer}/session/end`): Promise<string | undefined> {
    const page = await browser.fetch(endSessionUrl);
    const form = /<form id="op.logoutForm" method="post" action="([^"]+)"><input type="hidden" name="xsrf" value="([^"]+)"\/>/.exec(page.body);
    if (!form) throw new Error(`the IdP's end_session page has no logout form (HTTP ${page.status}): is this browser signed in there?`);
    const done = await browser.fetch(form[1]!, { form: { xsrf: form[2]!, logout: 'yes' } });
    if (done.status >= 400) throw new Error(`the IdP's logout answered HTTP ${done.status}`);
    return done.location;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

export const IDP_CLIENT_ID = 'postern-edge';
export const IDP_CLIENT_SECRET = 'test-client-secret-6b1f2d0e';

/**
 * A test IdP and an edge that trusts it (`--oidc-issuer`, secret in a file). The edge's port is
 * chosen first because the IdP registers `http://localhost:PORT/auth/callback` as the redirect URI.
 */
export async function startEdgeWithIdp(options: {
  readonly db: string;
  readonly dir: string;
  readonly accounts?: Record<string, IdpAccount>;
  readonly name?: string;
  readonly extraArgs?: readonly string[];
  /** The IdP's shape (issuer path, dex groups scope, refresh tokens). */
  readonly shape?: Omit<TestIdpOptions, 'clients' | 'accounts'>;
  /** Register the edge's back-channel logout URI and post-logout redirect URI at the IdP. */
  readonly logoutUris?: boolean;
  /** `google`: the IdP stands for Google (--google-issuer and the --google-* flags) instead of --oidc-issuer. */
  readonly preset?: 'google';
}): Promise<{ edge: EdgeProcess; idp: TestIdp }> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const edgeUrl = `http://localhost:${port}`;
    const idp = await TestIdp.start({
      ...options.shape,
      clients: [{
        clientId: IDP_CLIENT_ID,
        clientSecret: IDP_CLIENT_SECRET,
        redirectUris: [`${edgeUrl}/auth/callback`],
        ...(options.logoutUris ? { backchannelLogoutUri: `${edgeUrl}/auth/backchannel-logout`, postLogoutRedirectUris: [`${edgeUrl}/auth/signed-out`] } : {}),
      }],
      ...(options.accounts ? { accounts: options.accounts } : {}),
    });
    const secretFile = join(options.dir, `oidc-secret-${attempt}`);
    writeFileSync(secretFile, `${IDP_CLIENT_SECRET}\n`, { mode: 0o600 });
    try {
      const edge = await EdgeProcess.start({
        db: options.db,
        port,
        extraArgs: [
          ...(options.preset === 'google'
            ? ['--google-issuer', idp.issuer, '--google-client-id', IDP_CLIENT_ID, '--google-client-secret-file', secretFile]
            : ['--oidc-issuer', idp.issuer, '--oidc-client-id', IDP_CLIENT_ID, '--oidc-client-secret-file', secretFile, '--oidc-name', options.name ?? 'Corp SSO']),
          ...(options.extraArgs ?? []),
        ],
      });
      return { edge, idp };
    } catch (err) {
      lastError = err;
      await idp.close();
      if (!/EADDRINUSE/.test(String(err))) break;
    }
  }
  throw lastError;
}
