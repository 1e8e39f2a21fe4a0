import { createHash, createHmac, randomBytes } from 'node:crypto';
import http from 'node:http';
import { closer, listenLocal, onRequests, sendJson } from './local-server.js';

/** One Facebook user as the Graph API describes them to this app. */
export interface MockFacebookUser {
  /** The app-scoped user id. */
  readonly id: string;
  readonly name: string;
  /** Absent when the person has no confirmed email (the Graph API then omits the field). */
  readonly email?: string;
}

const VERSION = 'v21.0';

interface PendingCode {
  readonly login: string;
  readonly redirectUri: string;
  readonly challenge: string | null;
  readonly method: string | null;
}

/**
 * Facebook Login at the HTTP boundary, on 127.0.0.1 (for --facebook-web-url and --facebook-graph-url),
 * with the documented shapes of the manual login flow:
 *
 *   GET  /v21.0/dialog/oauth           the person "continues as" `nextLogin` at once: 302 to
 *                                      redirect_uri with code + state (error=access_denied otherwise)
 *   GET|POST /v21.0/oauth/access_token code → {access_token, token_type: "bearer", expires_in}; client
 *                                      secret, redirect_uri and PKCE S256 checked
 *   GET  /v21.0/me?fields=id,name,email the fields asked for; appsecret_proof checked when sent
 *
 * Graph errors are {error: {message, type: "OAuthException", code, error_subcode?, fbtrace_id}}; an
 * invalid or revoked token is code 190.
 */
export class FacebookMock {
  readonly users = new Map<string, MockFacebookUser>();
  nextLogin: string | undefined;
  readonly requests: { method: string; path: string; query: URLSearchParams; authorization: string | undefined }[] = [];
  /** What the mock found wrong in the edge's requests (a well-behaved edge leaves this empty). */
  readonly complaints: string[] = [];
  private readonly codes = new Map<string, PendingCode>();
  private readonly tokens = new Map<string, string>();

  private constructor(
    readonly server: http.Server,
    readonly port: number,
    readonly appId: string,
    readonly appSecret: string,
  ) {
    this.close = closer(server);
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(options: { appId: string; appSecret: string; users?: Record<string, MockFacebookUser> }): Promise<FacebookMock> {
    const server = http.createServer();
    const port = await listenLocal(server);
    const mock = new FacebookMock(server, port, options.appId, options.appSecret);
    for (const [login, user] of Object.entries(options.users ?? {})) mock.users.set(login, user);
    onRequests(server, (req, res) => mock.handle(req, res));
    return mock;
  }

  /** The person removes the app in their Facebook settings: every token of theirs stops working. */
  deauthorize(login: string): void {
    for (const [token, owner] of this.tokens) if (owner === login) this.tokens.delete(token);
  }

  /** Closes the mock, cutting connections the edge still holds. */
  readonly close: () => Promise<void>;

  private graphError(res: http.ServerResponse, status: number, code: number, message: string, subcode?: number): void {
    sendJson(res, status, { error: { message, type: 'OAuthException', code, ...(subcode ? { error_subcode: subcode } : {}), fbtrace_id: randomBytes(8).toString('base64url') } });
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    this.requests.push({ method: req.method ?? '', path: url.pathname, query: url.searchParams, authorization: req.headers.authorization });
    const route = `${req.method} ${url.pathname}`;
    if (route === `GET /${VERSION}/dialog/oauth`) return this.dialog(res, url.searchParams);
    if (url.pathname === `/${VERSION}/oauth/access_token` && (req.method === 'GET' || req.method === 'POST')) {
      let body = '';
      for await (const chunk of req) body += (chunk as Buffer).toString('utf8');
      return this.accessToken(res, req.method === 'POST' ? new URLSearchParams(body) : url.searchParams);
    }
    if (route === `GET /${VERSION}/me`) return this.me(req, res, url.searchParams);
    this.graphError(res, 404, 803, 'Unknown path components');
  }

  private dialog(res: http.ServerResponse, q: URLSearchParams): void {
    if (q.get('client_id') !== this.appId) return this.graphError(res, 400, 101, 'Error validating application. Invalid application ID.');
    const redirectUri = q.get('redirect_uri') ?? '';
    const state = q.get('state');
    if (!state) this.complaints.push('dialog without state');
    if (q.get('code_challenge_method') !== 'S256') this.complaints.push(`dialog without PKCE S256 (${q.get('code_challenge_method')})`);
    if (!(q.get('scope') ?? '').split(',').includes('email')) this.complaints.push(`dialog without the email permission (${q.get('scope')})`);
    const back = new URL(redirectUri);
    const login = this.nextLogin;
    if (!login || !this.users.has(login)) {
      back.search = new URLSearchParams({ error: 'access_denied', error_code: '200', error_description: 'Permissions error', error_reason: 'user_denied', state: state ?? '' }).toString();
    } else {
      const code = randomBytes(24).toString('base64url');
      this.codes.set(code, { login, redirectUri, challenge: q.get('code_challenge'), method: q.get('code_challenge_method') });
      back.search = new URLSearchParams({ code, state: state ?? '' }).toString();
    }
    res.writeHead(302, { location: back.href });
    res.end();
  }

  private accessToken(res: http.ServerResponse, form: URLSearchParams): void {
    if (form.get('client_id') !== this.appId || form.get('client_secret') !== this.appSecret) {
      return this.graphError(res, 400, 1, 'Error validating client secret.');
    }
    const code = form.get('code') ?? '';
    const pending = this.codes.get(code);
    this.codes.delete(code);
    if (!pending) return this.graphError(res, 400, 100, 'This authorization code has been used.', 36009);
    if (form.get('redirect_uri') !== pending.redirectUri) return this.graphError(res, 400, 100, 'Error validating verification code. Please make sure your redirect_uri is identical to the one you used in the OAuth dialog request', 36008);
    if (pending.challenge !== null) {
      const computed = createHash('sha256').update(form.get('code_verifier') ?? '').digest('base64url');
      if (pending.method !== 'S256' || computed !== pending.challenge) return this.graphError(res, 400, 100, 'Invalid code verifier', 36010);
    }
    const token = `EAAB${randomBytes(30).toString('base64url')}`;
    this.tokens.set(token, pending.login);
    sendJson(res, 200, { access_token: token, token_type: 'bearer', expires_in: 5183944 });
  }

  private me(req: http.IncomingMessage, res: http.ServerResponse, q: URLSearchParams): void {
    const token = /^(?:Bearer|OAuth) (.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? q.get('access_token') ?? '';
    const login = this.tokens.get(token);
    const user = login ? this.users.get(login) : undefined;
    if (!user) return this.graphError(res, 400, 190, 'Error validating access token: The user has not authorized application.', 458);
    const proof = q.get('appsecret_proof');
    if (proof === null) this.complaints.push('a Graph call without appsecret_proof');
    else if (proof !== createHmac('sha256', this.appSecret).update(token).digest('hex')) return this.graphError(res, 400, 100, 'Invalid appsecret_proof provided in the API argument');
    const fields = (q.get('fields') ?? 'id,name').split(',');
    const out: Record<string, string> = {};
    for (const field of fields) {
      const value = (user as unknown as Record<string, string | undefined>)[field];
      if (value !== undefined) out[field] = value;
    }
    sendJson(res, 200, out);
  }
}
