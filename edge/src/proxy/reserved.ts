import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AuthContext } from '../auth/context.js';
import { clearCookie, readCookie, setCookie } from '../auth/cookies.js';
import { isSameOriginRequest } from '../auth/origin-check.js';
import { safeLocalPath } from '../auth/redirects.js';
import type { EdgeConfig } from '../config.js';
import { EdgeError } from '../errors.js';
import { signedOutPage, signOutConfirmPage } from '../pages/auth-pages.js';
import { FAVICON_HEADERS, FAVICON_PATH, FAVICON_SVG } from '../pages/favicon.js';
import { sendError } from '../pages/error-page.js';
import { EDGE_PAGE_HEADERS } from '../pages/frame-protection.js';
import { randomHandle } from '../store/secrets.js';
import type { SocketRecord } from '../store/sockets.js';

/** Paths every socket host reserves for the edge; the app never sees them. */
export const RESERVED_PREFIX = '/.postern/';
/** The handoff nonce outlives the code (60 s) by a margin for a slow sign-in page. */
const BIND_TTL_SECONDS = 120;

function send(res: ServerResponse, status: number, type: string, body: string, headers: Record<string, string | string[]> = {}): void {
  res.writeHead(status, { ...EDGE_PAGE_HEADERS, 'content-type': type, 'content-length': Buffer.byteLength(body), 'cache-control': 'no-store', ...headers });
  res.end(body);
}

/** Reads a small form body (sign-out); undefined when it is larger than `limit` or broken. */
function readForm(req: IncomingMessage, limit = 1024): Promise<URLSearchParams | undefined> {
  return new Promise((resolve) => {
    let body = '';
    req.setEncoding('utf8');
    const onData = (chunk: string) => {
      body += chunk;
      if (body.length > limit) {
        // Answer now; the rest of the body is read and dropped, and the connection closed after the answer.
        req.off('data', onData);
        resolve(undefined);
      }
    };
    req.on('data', onData);
    req.on('end', () => resolve(new URLSearchParams(body)));
    req.on('error', () => resolve(undefined));
  });
}

/** `/.postern/signin`, `/.postern/callback`, `/.postern/signout`, `/.postern/jwks.json` and the icon on a socket host. */
export class ReservedPaths {
  constructor(
    private readonly config: EdgeConfig,
    private readonly auth: AuthContext,
  ) {}

  async handle(req: IncomingMessage, res: ServerResponse, socket: SocketRecord, host: string): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://socket.invalid');
    const origin = `${this.config.publicScheme}://${host}`;
    const footer = host;
    switch (url.pathname) {
      case FAVICON_PATH:
        return send(res, 200, FAVICON_HEADERS['content-type'], FAVICON_SVG, FAVICON_HEADERS);
      case '/.postern/jwks.json':
        return send(res, 200, 'application/json', JSON.stringify(this.auth.signer.jwks), { 'cache-control': 'public, max-age=300' });
      case '/.postern/signin': {
        // A nonce for this browser only (host-only cookie); the edge binds the handoff code to it.
        const nonce = randomHandle();
        const rd = `${origin}${safeLocalPath(url.searchParams.get('path'))}`;
        res.writeHead(302, {
          location: `${this.auth.edgeUrl}/auth/login?rd=${encodeURIComponent(rd)}&bind=${nonce}`,
          'set-cookie': setCookie(this.auth.cookies.bind, nonce, { secure: this.auth.secure, maxAgeSeconds: BIND_TTL_SECONDS }),
          'cache-control': 'no-store',
        });
        return void res.end();
      }
      case '/.postern/callback': {
        const bind = readCookie(req, this.auth.cookies.bind) ?? '';
        const redeemed = await this.auth.sessions.redeemHandoff(url.searchParams.get('code') ?? '', bind, socket.id);
        if (!redeemed) {
          // Unknown, used, expired or made for another socket: start over rather than fail.
          res.writeHead(302, { location: `${this.auth.edgeUrl}/auth/login?rd=${encodeURIComponent(`${origin}/`)}`, 'cache-control': 'no-store' });
          return void res.end();
        }
        res.writeHead(302, {
          location: redeemed.returnPath,
          'set-cookie': [setCookie(this.auth.cookies.session, redeemed.handle, { secure: this.auth.secure }), clearCookie(this.auth.cookies.bind, this.auth.secure)],
          'cache-control': 'no-store',
        });
        return void res.end();
      }
      case '/.postern/signout': {
        const session = await this.auth.sessions.resolve(readCookie(req, this.auth.cookies.session), socket.id);
        if (req.method === 'GET') {
          const page = session
            ? signOutConfirmPage({ who: session.user.email ?? session.user.subject, action: '/.postern/signout', footer, place: 'app', everywhereHref: `${this.auth.edgeUrl}/auth/signout` })
            : signedOutPage({ scope: 'none', signInHref: '/', footer });
          return send(res, 200, 'text/html; charset=utf-8', page);
        }
        if (req.method !== 'POST') return sendError(req, res, new EdgeError('BAD_REQUEST', 'Use GET or POST.'));
        // Siblings are same-site, so SameSite does not stop them: require our own Origin.
        if (!isSameOriginRequest(req, origin)) return sendError(req, res, new EdgeError('FORBIDDEN', 'Sign-out must come from this app’s own page.'));
        const form = await readForm(req);
        if (!form) {
          res.shouldKeepAlive = false;
          return sendError(req, res, new EdgeError('BAD_REQUEST', 'The sign-out form is larger than 1 KiB.'));
        }
        // Only this app's session ends here, whatever the form says: a socket's page is its owner's,
        // and a sibling's own-origin form must not sign the visitor out of every app (the edge host offers that).
        if (session) await this.auth.sessions.signOut(session.record);
        const scope = session ? 'here' : 'none';
        return send(res, 200, 'text/html; charset=utf-8', signedOutPage({ scope, signInHref: '/', footer }), {
          'set-cookie': clearCookie(this.auth.cookies.session, this.auth.secure),
        });
      }
      default:
        return sendError(req, res, new EdgeError('NOT_FOUND', `Nothing at ${url.pathname}.`));
    }
  }
}
