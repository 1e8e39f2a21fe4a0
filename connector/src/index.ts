export { Connector, RETURN_PROBE_MS, type ConnectorEvents, type SlotState } from './connector.js';
export { EdgeSet, isTrustedPeer, normaliseEdgeUrl } from './edges.js';
export { DEFAULT_CONNECTIONS, DEFAULT_GRACE_MS, type ConnectorConfig } from './config.js';
export { ConnectorError, unreachableReason, type ConnectorErrorCode } from './errors.js';
export { Backoff } from './backoff.js';
export { type RequestLogEntry } from './request-log.js';
export { ConnectorMetrics } from './metrics.js';
export { type Target, type StreamObserver, type ExchangeObserver, type ObserveExchange } from './target.js';
export * from './inspector/index.js';
