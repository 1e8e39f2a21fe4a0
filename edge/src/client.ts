/**
 * `@postern/edge/client`: what a client of the edge may load without starting one (limits and flag
 * names the CLI checks and lists in --help). Nothing imported from here may reach Fastify, SQLite or
 * pg: a connector-only install of `postern` has none of them (test/release-tarball.test.ts), and the
 * bundle check in the release build fails when one slips in. Types come from `@postern/edge` itself
 * (`import type` costs nothing at run time).
 */
export { RATE_LIMIT_DEFAULTS, RATE_LIMIT_FLAGS } from './rate-limit-flags.js';
export { MAX_SOCKET_BODY_BYTES } from './api/schemas.js';
export { parseByteSize, formatByteSize } from './limits/size.js';
export { DEFAULT_IDENTITY_HEADERS } from './proxy/identity-header-defaults.js';
export { ConfigError } from './config-values.js';
