/**
 * Identity headers the app receives unless the socket names others (Grafana auth.proxy defaults).
 * A module of its own so clients (`@postern/edge/client`: `postern apply`, `export`) read it
 * without loading the proxy.
 */
export const DEFAULT_IDENTITY_HEADERS = { email: 'X-Auth-Email', user: 'X-Auth-User' } as const;
