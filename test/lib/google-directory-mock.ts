import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import http from 'node:http';
import { closer, listenLocal, onRequests, sendJson } from './local-server.js';
import { exportPKCS8, exportSPKI, generateKeyPair, importSPKI, jwtVerify, type CryptoKey } from 'jose';

export const DIRECTORY_SCOPE = 'https://www.googleapis.com/auth/admin.directory.group.readonly';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/**
 * Google's side of Workspace groups at the HTTP boundary, on 127.0.0.1, with the documented shapes:
 *
 *   POST /token                          OAuth 2.0 for Server to Server Applications: the JWT-bearer
 *                                        grant; the assertion's signature (the service account's key),
 *                                        iss, sub, aud, scope and lifetime are checked as Google does.
 *                                        Errors: 400 invalid_grant, 401 unauthorized_client (no
 *                                        domain-wide delegation), as JSON {error, error_description}.
 *   GET  /admin/directory/v1/groups      Admin SDK Directory API groups.list?userKey=…&maxResults=…
 *                                        &pageToken=…: {kind: "admin#directory#groups", etag, groups:
 *                                        [{kind, id, etag, email, name, directMembersCount, description,
 *                                        adminCreated}], nextPageToken}; errors as {error: {code,
 *                                        message, errors: [{message, domain, reason}], status}}.
 *
 * `writeKeyFile` writes the service account key JSON the Cloud console downloads, naming this mock
 * as its token_uri.
 */
export class GoogleDirectoryMock {
  /** Group emails per user email; change at any time. */
  readonly groups = new Map<string, string[]>();
  /** Domain-wide delegation of the directory scope to the service account (Admin console). */
  delegated = true;
  readonly requests: { method: string; path: string; query: URLSearchParams }[] = [];
  /** What the mock found wrong in the edge's requests (a well-behaved edge leaves this empty). */
  readonly complaints: string[] = [];
  /** The claims of every assertion accepted. */
  readonly assertions: Record<string, unknown>[] = [];
  private readonly tokens = new Map<string, { admin: string; expiresAt: number }>();

  private constructor(
    readonly server: http.Server,
    readonly port: number,
    readonly clientEmail: string,
    readonly admin: string,
    private readonly publicKey: CryptoKey,
    private readonly privatePem: string,
  ) {
    this.close = closer(server);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get tokenUri(): string {
    return `${this.url}/token`;
  }

  static async start(options: { clientEmail: string; admin: string }): Promise<GoogleDirectoryMock> {
    const server = http.createServer();
    const port = await listenLocal(server);
    const { privateKey, publicKey } = await generateKeyPair('RS256', { extractable: true });
    // Re-imported from SPKI so the mock checks the signature exactly as from a published certificate.
    const verifyKey = await importSPKI(await exportSPKI(publicKey), 'RS256');
    const mock = new GoogleDirectoryMock(server, port, options.clientEmail, options.admin, verifyKey, await exportPKCS8(privateKey));
    onRequests(server, (req, res) => mock.handle(req, res));
    return mock;
  }

  /** The service account key file, as downloaded (plus Pomerium's `impersonate_user` when asked). */
  writeKeyFile(path: string, extra: Record<string, string> = {}): void {
    const key = {
      type: 'service_account',
      project_id: 'postern-test',
      private_key_id: randomBytes(20).toString('hex'),
      private_key: this.privatePem,
      client_email: this.clientEmail,
      client_id: '101215990458000334387',
      auth_uri: 'https://accounts.google.com/o/oauth2/auth',
      token_uri: this.tokenUri,
      auth_provider_x509_cert_url: 'https://www.googleapis.com/oauth2/v1/certs',
      client_x509_cert_url: `https://www.googleapis.com/robot/v1/metadata/x509/${encodeURIComponent(this.clientEmail)}`,
      ...extra,
    };
    writeFileSync(path, JSON.stringify(key, null, 2), { mode: 0o600 });
  }

  /** Access tokens issued so far stop working (the admin removed the delegation, or Google rotated them). */
  revokeTokens(): void {
    this.tokens.clear();
  }

  /** Closes the mock, cutting connections the edge still holds. */
  readonly close: () => Promise<void>;

  private apiError(res: http.ServerResponse, code: number, message: string, reason: string, status: string): void {
    sendJson(res, code, { error: { code, message, errors: [{ message, domain: 'global', reason }], status } });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    this.requests.push({ method: req.method ?? '', path: url.pathname, query: url.searchParams });
    const route = `${req.method} ${url.pathname}`;
    if (route === 'POST /token') return this.token(req, res);
    if (route === 'GET /admin/directory/v1/groups') return this.listGroups(req, res, url.searchParams);
    this.apiError(res, 404, 'Not Found', 'notFound', 'NOT_FOUND');
  }

  private async token(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    let body = '';
    for await (const chunk of req) body += (chunk as Buffer).toString('utf8');
    if (!(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) this.complaints.push('token request is not form-encoded');
    const form = new URLSearchParams(body);
    if (form.get('grant_type') !== JWT_BEARER) return sendJson(res, 400, { error: 'unsupported_grant_type', error_description: 'Invalid grant_type: ' + form.get('grant_type') });
    let claims: Record<string, unknown>;
    try {
      const verified = await jwtVerify(form.get('assertion') ?? '', this.publicKey, { algorithms: ['RS256'], issuer: this.clientEmail, audience: this.tokenUri });
      claims = verified.payload;
    } catch (err) {
      return sendJson(res, 400, { error: 'invalid_grant', error_description: `Invalid JWT Signature. (${(err as Error).message})` });
    }
    const iat = Number(claims.iat);
    const exp = Number(claims.exp);
    if (!(exp > iat && exp - iat <= 3600)) return sendJson(res, 400, { error: 'invalid_grant', error_description: 'Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe.' });
    if (claims.sub !== this.admin) return sendJson(res, 400, { error: 'invalid_grant', error_description: 'Invalid email or User ID' });
    const scopes = String(claims.scope ?? '').split(' ');
    if (!scopes.includes(DIRECTORY_SCOPE)) this.complaints.push(`assertion without the directory scope: ${String(claims.scope)}`);
    if (scopes.some((s) => s !== DIRECTORY_SCOPE)) this.complaints.push(`assertion asks for more than it needs: ${String(claims.scope)}`);
    if (!this.delegated) {
      return sendJson(res, 401, { error: 'unauthorized_client', error_description: 'Client is unauthorized to retrieve access tokens using this method, or client not authorized for any of the scopes requested.' });
    }
    this.assertions.push(claims);
    const token = `ya29.${randomBytes(24).toString('base64url')}`;
    this.tokens.set(token, { admin: String(claims.sub), expiresAt: Date.now() + 3599_000 });
    sendJson(res, 200, { access_token: token, expires_in: 3599, token_type: 'Bearer' });
  }

  private listGroups(req: http.IncomingMessage, res: http.ServerResponse, query: URLSearchParams): void {
    const token = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const grant = token ? this.tokens.get(token) : undefined;
    if (!grant || grant.expiresAt <= Date.now()) {
      return this.apiError(res, 401, 'Request had invalid authentication credentials. Expected OAuth 2 access token.', 'authError', 'UNAUTHENTICATED');
    }
    const userKey = (query.get('userKey') ?? '').toLowerCase();
    const groups = this.groups.get(userKey);
    if (!groups) return this.apiError(res, 404, 'Resource Not Found: userKey', 'notFound', 'NOT_FOUND');
    const max = Math.min(Math.max(Number(query.get('maxResults') ?? 200) || 200, 1), 200);
    const start = Number(query.get('pageToken') ?? 0) || 0;
    const page = groups.slice(start, start + max);
    const next = start + max < groups.length ? String(start + max) : undefined;
    sendJson(res, 200, {
      kind: 'admin#directory#groups',
      etag: `"${randomBytes(8).toString('hex')}"`,
      ...(page.length > 0
        ? {
            groups: page.map((email, i) => ({
              kind: 'admin#directory#group',
              id: `0${(start + i + 1).toString(16).padStart(14, '0')}`,
              etag: `"${randomBytes(6).toString('hex')}"`,
              email,
              name: email.split('@')[0],
              directMembersCount: '3',
              description: '',
              adminCreated: true,
            })),
          }
        : {}),
      ...(next ? { nextPageToken: next } : {}),
    });
  }
}
