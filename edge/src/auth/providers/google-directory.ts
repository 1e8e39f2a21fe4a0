/**
 * Google Workspace groups: Google's ID tokens carry none, so the edge asks the Admin SDK Directory
 * API (`groups.list?userKey=EMAIL`) as a service account with domain-wide delegation. The access
 * token comes from the JWT-bearer grant (RFC 7523, "OAuth 2.0 for Server to Server Applications"):
 * a JWT signed with the service account's key (jose, RS256) naming the Workspace admin it acts for
 * and the one read-only scope it needs. Tokens are kept until shortly before they expire; each
 * person's groups are cached for a bounded time, in a bounded map.
 */
import { importPKCS8, SignJWT, type CryptoKey } from 'jose';
import type { fetch as undiciFetch } from 'undici';
import type { ServiceAccountKey } from '../../config-identity.js';
import { isObject, requestJson, safeCode, type JsonAnswer } from './http-json.js';
import { parseSecureUrl, secureBaseUrl, type GroupsSource } from './oidc.js';

export const DIRECTORY_SCOPE = 'https://www.googleapis.com/auth/admin.directory.group.readonly';
const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';
/** Google accepts assertions valid for at most an hour. */
const ASSERTION_LIFETIME_S = 3600;
/** A token is replaced this long before Google says it expires. */
const TOKEN_MARGIN_MS = 60_000;
/** groups.list pages hold at most 200 groups; 25 pages bound one person at 5 000. */
const PAGE_SIZE = 200;
const MAX_PAGES = 25;
const MAX_CACHED_PEOPLE = 10_000;

export interface GoogleDirectoryOptions {
  readonly serviceAccount: ServiceAccountKey;
  /** The Workspace administrator whose authority the service account borrows (domain-wide delegation). */
  readonly admin: string;
  /** Default https://admin.googleapis.com. */
  readonly apiUrl: string;
  /** How long a person's groups are reused by re-validations (sign-in always asks afresh). */
  readonly cacheMs: number;
  readonly fetch?: typeof undiciFetch;
  readonly timeoutMs?: number;
  readonly now?: () => number;
}

/** The directory did not say what the groups are (misconfiguration, outage). The message is safe to show. */
export class DirectoryError extends Error {
  override readonly name = 'DirectoryError';
}

export class GoogleDirectory implements GroupsSource {
  private token: { value: string; expiresAt: number } | undefined;
  private readonly cache = new Map<string, { groups: readonly string[]; at: number }>();
  private readonly apiUrl: string;
  private readonly tokenUri: string;
  private readonly timeoutMs: number;
  private readonly now: () => number;

  private constructor(
    private readonly options: GoogleDirectoryOptions,
    private readonly key: CryptoKey,
  ) {
    this.apiUrl = secureBaseUrl(options.apiUrl, '--google-directory-url');
    this.tokenUri = parseSecureUrl(options.serviceAccount.tokenUri, `token_uri of ${options.serviceAccount.file}`).url.href;
    this.timeoutMs = options.timeoutMs ?? 10_000;
    this.now = options.now ?? Date.now;
  }

  static async create(options: GoogleDirectoryOptions): Promise<GoogleDirectory> {
    let key: CryptoKey;
    try {
      key = await importPKCS8(options.serviceAccount.privateKey, 'RS256');
    } catch {
      throw new Error(`--google-directory-credentials-file ${options.serviceAccount.file}: its private_key is not an RSA PKCS #8 key`);
    }
    return new GoogleDirectory(options, key);
  }

  /** The emails of the groups `email` is a direct member of (lower-cased). */
  async groupsOf(email: string, fresh: boolean): Promise<readonly string[]> {
    const now = this.now();
    const cached = this.cache.get(email);
    if (!fresh && cached && now - cached.at < this.options.cacheMs) return cached.groups;
    const groups = await this.fetchGroups(email);
    this.cache.delete(email);
    if (this.cache.size >= MAX_CACHED_PEOPLE) this.cache.delete(this.cache.keys().next().value!);
    this.cache.set(email, { groups, at: now });
    return groups;
  }

  private async fetchGroups(email: string): Promise<string[]> {
    const groups = new Set<string>();
    let pageToken: string | undefined;
    let renewed = false;
    for (let page = 0; page < MAX_PAGES; page++) {
      const url = new URL(`${this.apiUrl}/admin/directory/v1/groups`);
      url.searchParams.set('userKey', email);
      url.searchParams.set('maxResults', String(PAGE_SIZE));
      if (pageToken) url.searchParams.set('pageToken', pageToken);
      const token = await this.accessToken();
      const answer = await this.call(url.href, { method: 'GET', headers: { authorization: `Bearer ${token}`, accept: 'application/json' } }, 'groups');
      // A person the directory does not know (a consumer account, a deleted user) is in no group.
      if (answer.status === 404) return [];
      // A token revoked before its time (delegation removed, key rotated): one fresh grant says why.
      if (answer.status === 401 && !renewed) {
        this.token = undefined;
        renewed = true;
        page--;
        continue;
      }
      if (answer.status !== 200 || !isObject(answer.body)) throw new DirectoryError(`the Workspace directory answered HTTP ${answer.status} to groups.list${apiReason(answer.body)}`);
      const list = answer.body.groups;
      if (list !== undefined && !Array.isArray(list)) throw new DirectoryError('the Workspace directory sent an unexpected groups.list answer');
      for (const g of list ?? []) if (isObject(g) && typeof g.email === 'string' && g.email) groups.add(g.email.toLowerCase());
      pageToken = typeof answer.body.nextPageToken === 'string' && answer.body.nextPageToken ? answer.body.nextPageToken : undefined;
      if (!pageToken) break;
    }
    return [...groups];
  }

  /** A directory access token for the admin, from the JWT-bearer grant; reused until shortly before expiry. */
  private async accessToken(): Promise<string> {
    const now = this.now();
    if (this.token && now < this.token.expiresAt) return this.token.value;
    const { serviceAccount, admin } = this.options;
    const iat = Math.floor(now / 1000);
    const assertion = await new SignJWT({ scope: DIRECTORY_SCOPE })
      .setProtectedHeader({ alg: 'RS256', typ: 'JWT', ...(serviceAccount.privateKeyId ? { kid: serviceAccount.privateKeyId } : {}) })
      .setIssuer(serviceAccount.clientEmail)
      .setSubject(admin)
      .setAudience(this.tokenUri)
      .setIssuedAt(iat)
      .setExpirationTime(iat + ASSERTION_LIFETIME_S)
      .sign(this.key);
    const answer = await this.call(this.tokenUri, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
      body: new URLSearchParams({ grant_type: JWT_BEARER, assertion }).toString(),
    }, 'token');
    const body = isObject(answer.body) ? answer.body : {};
    if (answer.status !== 200 || typeof body.access_token !== 'string' || !body.access_token) {
      throw new DirectoryError(tokenFailure(answer.status, body.error, serviceAccount.clientEmail, admin));
    }
    const expiresIn = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 3600;
    this.token = { value: body.access_token, expiresAt: now + Math.max(expiresIn * 1000 - TOKEN_MARGIN_MS, 1000) };
    return this.token.value;
  }

  private async call(url: string, init: Parameters<typeof requestJson>[1], what: string): Promise<JsonAnswer> {
    try {
      return await requestJson(url, init, { ...(this.options.fetch ? { fetch: this.options.fetch } : {}), timeoutMs: this.timeoutMs });
    } catch {
      throw new DirectoryError(`Google did not answer the directory ${what} request`);
    }
  }
}

/** What a failed JWT-bearer grant usually means, in the words of the Admin console. */
function tokenFailure(status: number, error: unknown, clientEmail: string, admin: string): string {
  const code = safeCode(error);
  if (code === 'unauthorized_client') {
    return `Google refused the directory token (unauthorized_client): give ${clientEmail}'s client id domain-wide delegation of ${DIRECTORY_SCOPE} (Admin console → Security → API controls → Domain-wide delegation)`;
  }
  if (code === 'invalid_grant') return `Google refused the directory token (invalid_grant): check that ${admin} is a Workspace administrator and the service account key is current`;
  return `Google refused the directory token (HTTP ${status}, ${code})`;
}

/** The Google API error's own message (`{"error": {"code": 403, "message": …}}`), printable and short. */
function apiReason(body: unknown): string {
  const error = isObject(body) && isObject(body.error) ? body.error : undefined;
  return typeof error?.message === 'string' ? `: ${error.message.replace(/[^\x20-\x7e]/g, '?').slice(0, 160)}` : '';
}
