export {
  resolveEdgeConfig,
  edgeConfigFromEnv,
  edgeConfigFromFile,
  ConfigError,
  type EdgeConfig,
  type EdgeConfigInput,
  type OidcInput,
  type RateLimitsConfig,
} from './config.js';
export { printConfig } from './config-print.js';
export { buildServer, type Edge, type EdgeDeps } from './server.js';
export { startEdge, type RunningEdge } from './main.js';
export { withStore, addUser, setPassword, createToken, AdminError } from './admin.js';
export { migrateStore, type MigrateStoreResult } from './store/migrate-store.js';
// The table modules on the request path, for the store conformance suite (both backends).
export { SessionStore } from './store/sessions.js';
export { LabelTakenError, SocketStore } from './store/sockets.js';
export { TokenStore } from './store/tokens.js';
export { EdgeError, EDGE_ERRORS, type EdgeErrorCode } from './errors.js';
export type { SocketView } from './api/socket-view.js';
export type { CreateSocketBody, UpdateSocketBody, SocketRulesBody, SocketLimitsBody } from './api/sockets.js';
export type { PolicyTestBody, PolicyTestResult, PolicyDiffBody } from './api/policy.js';
export type { PolicyDiff, AccessChange, StreamCut, Outcome } from './policy/replay.js';
export { MAX_SOCKET_BODY_BYTES } from './api/schemas.js';
export { parseByteSize, formatByteSize } from './limits/size.js';
export type { CreateTunnelBody } from './api/tunnels.js';
export type { TunnelView, TokenView, AuditView } from './api/views.js';
export type { DeviceStart, DeviceToken } from './auth/device-flow.js';
