/**
 * Identity headers that other identity-aware proxies set, and that apps are configured to trust
 * (Grafana's auth.proxy reads X-WEBAUTH-USER, apps behind Authelia read Remote-User...). An app
 * moved behind Postern often still trusts them: the edge drops every client-sent one, in every
 * spelling, like its own. Lower-case; a trailing `*` makes a prefix.
 */
export const DEFAULT_FOREIGN_IDENTITY_HEADERS: readonly string[] = [
  // Authelia, Authentik, Caddy/Traefik/nginx forward-auth setups; Apache's REMOTE_USER as a header
  'remote-user', 'remote-email', 'remote-groups', 'remote-name', 'x-remote-user', 'x-authentik-*',
  // Grafana auth.proxy
  'x-webauth-*',
  // oauth2-proxy (its X-Forwarded-* family is the edge's own already)
  'x-auth-request-*',
  // Pomerium
  'x-pomerium-*',
  // Cloudflare Access
  'cf-access-*',
  // Google IAP, AWS ALB, Azure App Service
  'x-goog-authenticated-user-*', 'x-goog-iap-jwt-assertion', 'x-amzn-oidc-*', 'x-ms-client-principal*',
  // Tailscale serve, ngrok, Vouch, Teleport
  'tailscale-user-*', 'ngrok-auth-user-*', 'x-vouch-*', 'teleport-jwt-assertion',
];

/** Canonical header names a list matches: exact names, and prefixes written with a trailing `*`. */
export interface HeaderNameMatcher {
  has(canonicalName: string): boolean;
}

export function headerNameMatcher(names: readonly string[]): HeaderNameMatcher {
  const exact = new Set(names.filter((n) => !n.endsWith('*')));
  const prefixes = names.filter((n) => n.endsWith('*')).map((n) => n.slice(0, -1));
  return { has: (name) => exact.has(name) || prefixes.some((p) => name.startsWith(p)) };
}

/** Both at once: a socket's own names and the foreign list. */
export const eitherMatcher = (a: HeaderNameMatcher, b: HeaderNameMatcher): HeaderNameMatcher => ({ has: (name) => a.has(name) || b.has(name) });
