/**
 * Socket hostnames: `<stem>-<suffix>` under the edge domain, where the stem comes from the socket's
 * name. Permanent sockets use the owner's short account id as suffix (stable across restarts and
 * re-creation); quick shares use a random one.
 */

/** Names that would read as the edge's own services or as mail/DNS infrastructure; refused as stems. */
export const RESERVED_STEMS: ReadonlySet<string> = new Set([
  'abuse', 'account', 'accounts', 'admin', 'administrator', 'api', 'app', 'assets', 'auth', 'autoconfig',
  'autodiscover', 'billing', 'cdn', 'connect', 'console', 'dashboard', 'device', 'dns', 'docs', 'edge',
  'ftp', 'health', 'healthz', 'help', 'hostmaster', 'id', 'identity', 'imap', 'isatap', 'localhost',
  'login', 'logout', 'mail', 'metrics', 'mx', 'ns', 'ns1', 'ns2', 'oauth', 'oidc', 'pop', 'pop3',
  'portal', 'postern', 'postmaster', 'readyz', 'root', 'security', 'signin', 'signout', 'smtp', 'sso',
  'static', 'status', 'support', 'tunnel', 'webmaster', 'wpad', 'www',
]);

const STEM_MAX = 40;

/** Turns a display name into a DNS-label stem: lower-case letters, digits and single hyphens. */
export function labelStem(name: string): string {
  const stem = name
    .toLowerCase()
    .normalize('NFKD')
    .replace(/[\u0300-\u036f]/g, '') // drop accents: Ä → a
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, STEM_MAX)
    .replace(/-+$/g, '');
  return stem || 'socket';
}

/** Why a socket name cannot be used, or null. */
export function socketNameProblem(name: string): string | null {
  if (name.trim() === '') return 'a socket name cannot be empty';
  if (/[\u0000-\u001f\u007f-\u009f]/.test(name)) return 'a socket name cannot contain control characters';
  if (!/[\p{L}\p{N}]/u.test(name)) return `"${name}" has no letters or digits to make a hostname from`;
  const stem = labelStem(name);
  if (RESERVED_STEMS.has(stem)) return `"${stem}" is a reserved name on this edge; pick another (e.g. "${stem}-app")`;
  return null;
}

/** The stable suffix of an account's permanent sockets. */
export const accountSuffix = (accountId: string, long = false): string => (long ? accountId : accountId.slice(0, 6));
