export { resolveEdgeConfig, edgeConfigFromEnv, ConfigError, type EdgeConfig, type EdgeConfigInput } from './config.js';
export { buildServer, type Edge, type EdgeDeps } from './server.js';
export { startEdge, type RunningEdge } from './main.js';
export { withStore, addUser, createToken, AdminError } from './admin.js';
export { EdgeError, EDGE_ERRORS, type EdgeErrorCode } from './errors.js';
export type { SocketView } from './api/socket-view.js';
