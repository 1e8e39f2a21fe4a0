import type { AuthContext } from '../auth/context.js';
import type { SocketRecord } from '../store/sockets.js';
import type { AppIdentity } from './gate.js';
import { eitherMatcher, headerNameMatcher, type HeaderNameMatcher } from './foreign-identity.js';
import { ASSERTION_HEADER, canonicalName } from './headers.js';
import { DEFAULT_IDENTITY_HEADERS } from './identity-header-defaults.js';

const DEFAULT_RESERVED = new Set([DEFAULT_IDENTITY_HEADERS.email, DEFAULT_IDENTITY_HEADERS.user].map(canonicalName));
/** Built once per list and per socket record (records are replaced, never mutated). */
const foreignMatchers = new WeakMap<readonly string[], HeaderNameMatcher>();
const socketMatchers = new WeakMap<SocketRecord, { foreign: readonly string[]; matcher: HeaderNameMatcher }>();

/** The identity header names of a socket (its own, or the defaults). */
function namesFor(socket: SocketRecord): { email: string; user: string } {
  return {
    email: socket.identityHeaders.email ?? DEFAULT_IDENTITY_HEADERS.email,
    user: socket.identityHeaders.user ?? DEFAULT_IDENTITY_HEADERS.user,
  };
}

function ownNames(socket: SocketRecord): ReadonlySet<string> {
  if (!socket.identityHeaders.email && !socket.identityHeaders.user) return DEFAULT_RESERVED;
  const names = namesFor(socket);
  return new Set([...DEFAULT_RESERVED, canonicalName(names.email), canonicalName(names.user)]);
}

/**
 * Canonical names a client may never send to this socket's app, in every spelling: ours, and
 * `foreign` (other proxies' identity headers, `--foreign-identity-headers`).
 */
export function reservedHeaderNames(socket: SocketRecord, foreign: readonly string[]): HeaderNameMatcher {
  const cached = socketMatchers.get(socket);
  if (cached?.foreign === foreign) return cached.matcher;
  let foreignMatcher = foreignMatchers.get(foreign);
  if (!foreignMatcher) foreignMatchers.set(foreign, (foreignMatcher = headerNameMatcher(foreign)));
  const matcher = eitherMatcher(ownNames(socket), foreignMatcher);
  socketMatchers.set(socket, { foreign, matcher });
  return matcher;
}

/** One line of printable ASCII: what every HTTP stack reads the same way. */
const HEADER_SAFE = /^[\x20-\x7e]+$/;

/**
 * The user header: the display name when it is printable ASCII, else the email, else the user id.
 * An IdP's name with CR/LF, escape sequences or another script (`山田 太郎`) cannot travel in a
 * header as it is (the request would fail, or an app would misread the bytes); the exact name is
 * always in the signed assertion's `name` claim.
 */
const userHeaderValue = (identity: AppIdentity): string =>
  identity.name !== null && HEADER_SAFE.test(identity.name) ? identity.name : (identity.email ?? identity.userId);

function headerList(socket: SocketRecord, identity: AppIdentity, assertion: string): string[] {
  const names = namesFor(socket);
  const out: string[] = [];
  if (identity.email) out.push(names.email, identity.email);
  out.push(names.user, userHeaderValue(identity), ASSERTION_HEADER, assertion);
  return out;
}

/**
 * The headers that tell the app who is asking: email, user, and the signed assertion
 * (`aud` = this socket's origin). Returned synchronously while the assertion is cached (almost
 * always); a promise only when one must be signed.
 */
export function identityHeaders(auth: AuthContext, socket: SocketRecord, origin: string, identity: AppIdentity): string[] | Promise<string[]> {
  const cached = auth.signer.cached(identity.assertionKey, origin);
  if (cached) return headerList(socket, identity, cached);
  return auth.signer
    .assertion(identity.assertionKey, origin, { sub: identity.userId, email: identity.email, name: identity.name, groups: identity.groups })
    .then((assertion) => headerList(socket, identity, assertion));
}
