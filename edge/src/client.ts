/**
 * `@postern/edge/client`: what a client of the edge may load without starting one (limits, and the
 * settings table the CLI makes `postern edge`'s options from). Nothing imported from here may reach
 * Fastify, SQLite or pg: a connector-only install of `postern` has none of them
 * (test/release-tarball.test.ts), and the bundle check in the release build fails when one slips in.
 * Types come from `@postern/edge` itself (`import type` costs nothing at run time).
 */
export { EDGE_SETTING_ROWS, OIDC_SETTING_ROWS } from './settings.js';
export { defaultText, type SettingRow } from './setting.js';
export { MAX_SOCKET_BODY_BYTES } from './api/schemas.js';
export { parseByteSize, formatByteSize } from './limits/size.js';
export { DEFAULT_IDENTITY_HEADERS } from './proxy/identity-header-defaults.js';
export { ConfigError } from './config-values.js';
