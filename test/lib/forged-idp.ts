import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { Socket } from 'node:net';
import { exportJWK, generateKeyPair, SignJWT, UnsecuredJWT, type CryptoKey, type JWK } from 'jose';

/** How the next ID token is broken (`none`: a correct one). */
export type IdTokenTamper =
  | 'none'
  | 'wrong-iss'
  | 'wrong-aud'
  | 'extra-aud'
  | 'expired'
  | 'alg-none'
  | 'hs256-client-secret'
  | 'rs384-same-key'
  | 'unknown-key'
  | 'wrong-nonce'
  | 'no-nonce'
  | 'no-sub';

/**
 * A hand-written OpenID provider whose ID tokens the test breaks on purpose (wrong iss / aud / exp /
 * alg / key / nonce), and whose claims the test sets directly. Discovery, JWKS, an authorization
 * endpoint that approves at once (with RFC 9207 `iss`), a token endpoint with client_secret_basic and
 * PKCE S256 checks, and UserInfo. On 127.0.0.1, plain http.
 */
export class ForgedIdp {
  tamper: IdTokenTamper = 'none';
  /** Claims of the next ID token besides iss/aud/exp/iat/nonce (set `sub` here). */
  claims: Record<string, unknown> = { sub: 'forged-default' };
  /** When set, UserInfo answers this instead of `claims`. */
  userinfo: Record<string, unknown> | undefined;
  /** When set, the authorization response carries this `iss` instead of the issuer. */
  responseIss: string | undefined;
  readonly tokenRequests: { ok: boolean; reason: string }[] = [];
  private readonly codes = new Map<string, { nonce: string | null; challenge: string | null; redirectUri: string; claims: Record<string, unknown>; tamper: IdTokenTamper }>();
  private readonly accessTokens = new Map<string, Record<string, unknown>>();
  private readonly sockets = new Set<Socket>();

  private constructor(
    readonly server: http.Server,
    readonly port: number,
    readonly clientId: string,
    readonly clientSecret: string,
    private readonly key: CryptoKey,
    private readonly otherKey: CryptoKey,
    private readonly publicJwk: JWK,
  ) {}

  get issuer(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(options: { clientId: string; clientSecret: string }): Promise<ForgedIdp> {
    const server = http.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    const other = await generateKeyPair('RS256', { extractable: true });
    const publicJwk = { ...(await exportJWK(publicKey)), kid: 'forged-rs', alg: 'RS256', use: 'sig' };
    const idp = new ForgedIdp(server, port, options.clientId, options.clientSecret, privateKey, other.privateKey, publicJwk);
    server.on('connection', (socket: Socket) => {
      idp.sockets.add(socket);
      socket.on('close', () => idp.sockets.delete(socket));
    });
    server.on('request', (req, res) => {
      idp.handle(req, res).catch((err: Error) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`forged idp failure: ${err.message}`);
      });
    });
    return idp;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private json(res: http.ServerResponse, status: number, body: unknown): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store' });
    res.end(text);
  }

  private async idToken(entry: { nonce: string | null; claims: Record<string, unknown>; tamper: IdTokenTamper }): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const { tamper } = entry;
    const payload: Record<string, unknown> = { ...entry.claims };
    if (tamper === 'no-sub') delete payload.sub;
    if (tamper !== 'no-nonce' && entry.nonce !== null) payload.nonce = tamper === 'wrong-nonce' ? 'not-the-nonce' : entry.nonce;
    const iss = tamper === 'wrong-iss' ? 'http://127.0.0.1:1' : this.issuer;
    const aud = tamper === 'wrong-aud' ? 'some-other-client' : tamper === 'extra-aud' ? [this.clientId, 'some-other-client'] : this.clientId;
    const iat = tamper === 'expired' ? now - 7200 : now;
    const exp = tamper === 'expired' ? now - 3600 : now + 300;
    if (tamper === 'alg-none') {
      return new UnsecuredJWT(payload).setIssuer(iss).setAudience(aud).setIssuedAt(iat).setExpirationTime(exp).encode();
    }
    const jwt = new SignJWT(payload).setIssuer(iss).setAudience(aud).setIssuedAt(iat).setExpirationTime(exp);
    switch (tamper) {
      case 'hs256-client-secret':
        return jwt.setProtectedHeader({ alg: 'HS256', kid: 'forged-rs' }).sign(new TextEncoder().encode(this.clientSecret));
      case 'rs384-same-key':
        return jwt.setProtectedHeader({ alg: 'RS384', kid: 'forged-rs' }).sign(this.key);
      case 'unknown-key':
        return jwt.setProtectedHeader({ alg: 'RS256', kid: 'forged-rs' }).sign(this.otherKey);
      default:
        return jwt.setProtectedHeader({ alg: 'RS256', kid: 'forged-rs' }).sign(this.key);
    }
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.issuer);
    const route = `${req.method} ${url.pathname}`;
    switch (route) {
      case 'GET /.well-known/openid-configuration':
        return this.json(res, 200, {
          issuer: this.issuer,
          authorization_endpoint: `${this.issuer}/authorize`,
          token_endpoint: `${this.issuer}/token`,
          jwks_uri: `${this.issuer}/jwks`,
          userinfo_endpoint: `${this.issuer}/userinfo`,
          response_types_supported: ['code'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: ['RS256'],
          token_endpoint_auth_methods_supported: ['client_secret_basic'],
          code_challenge_methods_supported: ['S256'],
          scopes_supported: ['openid', 'email', 'profile'],
          authorization_response_iss_parameter_supported: true,
        });
      case 'GET /jwks':
        return this.json(res, 200, { keys: [this.publicJwk] });
      case 'GET /authorize': {
        const q = url.searchParams;
        const redirectUri = q.get('redirect_uri') ?? '';
        const code = randomBytes(12).toString('hex');
        this.codes.set(code, { nonce: q.get('nonce'), challenge: q.get('code_challenge'), redirectUri, claims: { ...this.claims }, tamper: this.tamper });
        const back = new URL(redirectUri);
        back.searchParams.set('code', code);
        back.searchParams.set('state', q.get('state') ?? '');
        back.searchParams.set('iss', this.responseIss ?? this.issuer);
        res.writeHead(302, { location: back.href });
        return void res.end();
      }
      case 'POST /token': {
        let body = '';
        for await (const chunk of req) body += (chunk as Buffer).toString('utf8');
        const form = new URLSearchParams(body);
        const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
        const [id, secret] = basic ? Buffer.from(basic[1]!, 'base64').toString('utf8').split(':').map(decodeURIComponent) : [];
        const refuse = (reason: string, error = 'invalid_grant') => {
          this.tokenRequests.push({ ok: false, reason });
          this.json(res, 400, { error, error_description: reason });
        };
        if (id !== this.clientId || secret !== this.clientSecret) return refuse('client authentication failed', 'invalid_client');
        const entry = this.codes.get(form.get('code') ?? '');
        this.codes.delete(form.get('code') ?? '');
        if (!entry) return refuse('unknown or used code');
        if (form.get('redirect_uri') !== entry.redirectUri) return refuse('redirect_uri mismatch');
        const verifier = form.get('code_verifier') ?? '';
        if (!entry.challenge || createHash('sha256').update(verifier).digest('base64url') !== entry.challenge) return refuse('PKCE failed');
        const accessToken = randomBytes(16).toString('hex');
        this.accessTokens.set(accessToken, this.userinfo ?? entry.claims);
        this.tokenRequests.push({ ok: true, reason: 'issued' });
        return this.json(res, 200, { access_token: accessToken, token_type: 'Bearer', expires_in: 300, id_token: await this.idToken(entry), scope: 'openid email profile' });
      }
      case 'GET /userinfo': {
        const token = /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1];
        const info = token ? this.accessTokens.get(token) : undefined;
        if (!info) {
          res.writeHead(401, { 'www-authenticate': 'Bearer error="invalid_token"' });
          return void res.end();
        }
        return this.json(res, 200, info);
      }
      default:
        return this.json(res, 404, { error: 'not_found' });
    }
  }
}
