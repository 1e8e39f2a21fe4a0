export { resolveEdgeConfig, edgeConfigFromEnv, edgeConfigFromFile, ConfigError, type EdgeConfig, type EdgeConfigInput, type OidcInput } from './config.js';
export { buildServer, type Edge, type EdgeDeps } from './server.js';
export { startEdge, type RunningEdge } from './main.js';
export { withStore, addUser, setPassword, createToken, AdminError } from './admin.js';
export { EdgeError, EDGE_ERRORS, type EdgeErrorCode } from './errors.js';
export type { SocketView } from './api/socket-view.js';
export type { CreateSocketBody } from './api/routes.js';
