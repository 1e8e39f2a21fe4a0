import { writeFileSync } from 'node:fs';
import http from 'node:http';
import type { Socket } from 'node:net';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import type { OidcContext, Provider as ProviderType } from 'oidc-provider';
import { EdgeProcess, freePort } from './postern.js';

/** What the test IdP says about one login name: the claims are the test's to choose. */
export interface IdpAccount {
  /** Default: the login name. */
  readonly sub?: string;
  readonly email?: string;
  /** A string only to test IdPs that send `"true"` (which is not `true`). */
  readonly email_verified?: boolean | string;
  readonly name?: string;
  readonly groups?: readonly string[];
}

export interface IdpClient {
  readonly clientId: string;
  readonly clientSecret: string;
  readonly redirectUris: readonly string[];
}

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
  private readonly sockets = new Set<Socket>();

  private constructor(
    readonly server: http.Server,
    readonly port: number,
    readonly provider: ProviderType,
  ) {}

  get issuer(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(options: { clients: readonly IdpClient[]; accounts?: Record<string, IdpAccount> }): Promise<TestIdp> {
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

    // The account table lives on the instance; findAccount reads it through this holder.
    const holder: { idp?: TestIdp } = {};
    const provider = new Provider(`http://127.0.0.1:${port}`, {
      clients: options.clients.map((c) => ({
        client_id: c.clientId,
        client_secret: c.clientSecret,
        redirect_uris: [...c.redirectUris],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        token_endpoint_auth_method: 'client_secret_basic',
      })),
      jwks: { keys: [signingKey] },
      cookies: { keys: ['postern-test-idp-cookie-key-0123456789'] },
      claims: {
        openid: ['sub'],
        email: ['email', 'email_verified'],
        profile: ['name', 'groups'],
      },
      conformIdTokenClaims: false,
      features: { devInteractions: { enabled: true } },
      pkce: { required: () => true },
      async findAccount(_ctx: unknown, id: string) {
        const account = holder.idp?.accounts.get(id) ?? {};
        return {
          accountId: id,
          async claims() {
            const claims: Record<string, unknown> = { sub: account.sub ?? id };
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
        const existing = oidc.result?.consent?.grantId ?? oidc.session?.grantIdFor(clientId);
        if (existing) {
          const found = await oidc.provider.Grant.find(existing);
          if (found) return found;
        }
        const grant = new oidc.provider.Grant({ clientId, accountId });
        grant.addOIDCScope('openid email profile');
        grant.addOIDCClaims(['email', 'email_verified', 'name', 'groups']);
        await grant.save();
        return grant;
      },
    });
    const idp = new TestIdp(server, port, provider);
    holder.idp = idp;
    for (const [login, account] of Object.entries(options.accounts ?? {})) idp.accounts.set(login, account);
    const callback = provider.callback();
    server.on('connection', (socket: Socket) => {
      idp.sockets.add(socket);
      socket.on('close', () => idp.sockets.delete(socket));
    });
    server.on('request', (req, res) => {
      idp.requests.push({ method: req.method ?? '', path: (req.url ?? '').split('?')[0]! });
      callback(req, res);
    });
    return idp;
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
}): Promise<{ edge: EdgeProcess; idp: TestIdp }> {
  let lastError: unknown;
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const idp = await TestIdp.start({
      clients: [{ clientId: IDP_CLIENT_ID, clientSecret: IDP_CLIENT_SECRET, redirectUris: [`http://localhost:${port}/auth/callback`] }],
      ...(options.accounts ? { accounts: options.accounts } : {}),
    });
    const secretFile = join(options.dir, `oidc-secret-${attempt}`);
    writeFileSync(secretFile, `${IDP_CLIENT_SECRET}\n`, { mode: 0o600 });
    try {
      const edge = await EdgeProcess.start({
        db: options.db,
        port,
        extraArgs: [
          '--oidc-issuer', idp.issuer,
          '--oidc-client-id', IDP_CLIENT_ID,
          '--oidc-client-secret-file', secretFile,
          '--oidc-name', options.name ?? 'Corp SSO',
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
