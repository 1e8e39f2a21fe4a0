import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { Socket } from 'node:net';

/** One GitHub user as the mock's API describes them. */
export interface MockGithubUser {
  readonly id: number;
  readonly login: string;
  readonly name?: string | null;
  readonly emails: readonly { email: string; primary: boolean; verified: boolean; visibility?: 'public' | 'private' | null }[];
  /** Organisation logins. */
  readonly orgs?: readonly string[];
  readonly teams?: readonly { org: string; slug: string }[];
}

interface PendingCode {
  readonly login: string;
  readonly clientId: string;
  readonly redirectUri: string;
  readonly challenge: string | null;
  readonly method: string | null;
}

/**
 * GitHub at the HTTP boundary, on 127.0.0.1 (for `--github-web-url` and `--github-api-url`):
 *
 *   GET  /login/oauth/authorize     the user "approves" at once: 302 to redirect_uri with code + state
 *   POST /login/oauth/access_token  code → token (client secret, redirect_uri and PKCE S256 checked;
 *                                   errors as HTTP 200 + `error`, as GitHub does)
 *   GET  /user, /user/emails, /user/orgs, /user/teams   documented shapes, paged by per_page/page
 *
 * `nextLogin` chooses who signs in next.
 */
export class GithubMock {
  readonly users = new Map<string, MockGithubUser>();
  nextLogin: string | undefined;
  /** Requests received (method, path, query), in order. */
  readonly requests: { method: string; path: string; query: URLSearchParams; authorization: string | undefined }[] = [];
  /** Problems the mock saw with the edge's requests (a well-behaved edge leaves this empty). */
  readonly complaints: string[] = [];
  private readonly codes = new Map<string, PendingCode>();
  private readonly tokens = new Map<string, string>();
  private readonly sockets = new Set<Socket>();

  private constructor(
    readonly server: http.Server,
    readonly port: number,
    readonly clientId: string,
    readonly clientSecret: string,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(options: { clientId: string; clientSecret: string; users?: readonly MockGithubUser[] }): Promise<GithubMock> {
    const server = http.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    const mock = new GithubMock(server, typeof address === 'object' && address ? address.port : 0, options.clientId, options.clientSecret);
    for (const user of options.users ?? []) mock.users.set(user.login, user);
    server.on('connection', (socket: Socket) => {
      mock.sockets.add(socket);
      socket.on('close', () => mock.sockets.delete(socket));
    });
    server.on('request', (req, res) => {
      mock.handle(req, res).catch((err: Error) => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`mock failure: ${err.message}`);
      });
    });
    return mock;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private json(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', this.url);
    this.requests.push({ method: req.method ?? '', path: url.pathname, query: url.searchParams, authorization: req.headers.authorization });
    const route = `${req.method} ${url.pathname}`;

    if (route === 'GET /login/oauth/authorize') {
      const q = url.searchParams;
      const clientId = q.get('client_id') ?? '';
      const redirectUri = q.get('redirect_uri') ?? '';
      const state = q.get('state');
      if (clientId !== this.clientId) {
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('unknown client');
        return;
      }
      if (!state) this.complaints.push('authorize without state');
      if (q.get('code_challenge_method') !== 'S256') this.complaints.push(`authorize without PKCE S256 (${q.get('code_challenge_method')})`);
      const login = this.nextLogin;
      if (!login || !this.users.has(login)) {
        res.writeHead(302, { location: `${redirectUri}?error=access_denied&error_description=no+user&state=${encodeURIComponent(state ?? '')}` });
        res.end();
        return;
      }
      const code = randomBytes(10).toString('hex');
      this.codes.set(code, { login, clientId, redirectUri, challenge: q.get('code_challenge'), method: q.get('code_challenge_method') });
      const back = new URL(redirectUri);
      back.searchParams.set('code', code);
      if (state !== null) back.searchParams.set('state', state);
      res.writeHead(302, { location: back.href });
      res.end();
      return;
    }

    if (route === 'POST /login/oauth/access_token') {
      let body = '';
      for await (const chunk of req) body += (chunk as Buffer).toString('utf8');
      const form = new URLSearchParams(body);
      // Client authentication: in the body (GitHub's documented way) or HTTP Basic.
      let id = form.get('client_id');
      let secret = form.get('client_secret');
      const basic = /^Basic (.+)$/i.exec(req.headers.authorization ?? '');
      if (basic) [id, secret] = Buffer.from(basic[1]!, 'base64').toString('utf8').split(':') as [string, string];
      if (!(req.headers.accept ?? '').includes('application/json')) this.complaints.push('token request without Accept: application/json');
      if (id !== this.clientId || secret !== this.clientSecret) {
        return this.json(res, 200, { error: 'incorrect_client_credentials', error_description: 'The client_id and/or client_secret passed are incorrect.' });
      }
      const code = form.get('code') ?? '';
      const pending = this.codes.get(code);
      this.codes.delete(code);
      if (!pending || pending.clientId !== id) {
        return this.json(res, 200, { error: 'bad_verification_code', error_description: 'The code passed is incorrect or expired.' });
      }
      const redirectUri = form.get('redirect_uri');
      if (redirectUri !== null && redirectUri !== pending.redirectUri) {
        return this.json(res, 200, { error: 'redirect_uri_mismatch', error_description: 'The redirect_uri MUST match the registered callback URL for this application.' });
      }
      if (pending.challenge !== null) {
        const verifier = form.get('code_verifier') ?? '';
        const computed = createHash('sha256').update(verifier).digest('base64url');
        if (pending.method !== 'S256' || computed !== pending.challenge) {
          return this.json(res, 200, { error: 'bad_verification_code', error_description: 'PKCE verification failed.' });
        }
      }
      const token = `gho_${randomBytes(18).toString('hex')}`;
      this.tokens.set(token, pending.login);
      return this.json(res, 200, { access_token: token, token_type: 'bearer', scope: 'read:org,read:user,user:email' });
    }

    if (req.method === 'GET' && url.pathname.startsWith('/user')) {
      const auth = /^(?:Bearer|token) (.+)$/i.exec(req.headers.authorization ?? '');
      const login = auth ? this.tokens.get(auth[1]!) : undefined;
      const user = login ? this.users.get(login) : undefined;
      if (!user) return this.json(res, 401, { message: 'Bad credentials', documentation_url: 'https://docs.github.com/rest', status: '401' });
      const page = <T>(items: readonly T[]): T[] => {
        const perPage = Math.min(Math.max(Number(url.searchParams.get('per_page') ?? 30) || 30, 1), 100);
        const pageNo = Math.max(Number(url.searchParams.get('page') ?? 1) || 1, 1);
        return items.slice((pageNo - 1) * perPage, pageNo * perPage);
      };
      const orgs = user.orgs ?? [];
      switch (url.pathname) {
        case '/user':
          return this.json(res, 200, {
            login: user.login,
            id: user.id,
            node_id: `U_${user.id}`,
            avatar_url: `${this.url}/avatars/${user.id}`,
            type: 'User',
            site_admin: false,
            name: user.name ?? null,
            company: null,
            email: user.emails.find((e) => e.visibility === 'public')?.email ?? null,
            created_at: '2011-01-25T18:44:36Z',
          });
        case '/user/emails':
          return this.json(res, 200, page(user.emails.map((e) => ({ email: e.email, primary: e.primary, verified: e.verified, visibility: e.visibility ?? null }))));
        case '/user/orgs':
          return this.json(res, 200, page(orgs.map((o, i) => ({ login: o, id: 1000 + i, node_id: `O_${i}`, url: `${this.url}/orgs/${o}`, description: null }))));
        case '/user/teams':
          return this.json(res, 200, page((user.teams ?? []).map((t, i) => ({
            id: 2000 + i,
            node_id: `T_${i}`,
            name: t.slug,
            slug: t.slug,
            privacy: 'closed',
            permission: 'pull',
            organization: { login: t.org, id: 3000 + i, node_id: `O_t${i}` },
          }))));
        default:
          return this.json(res, 404, { message: 'Not Found' });
      }
    }

    this.json(res, 404, { message: 'Not Found' });
  }
}
