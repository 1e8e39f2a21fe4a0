export { ExchangeLog, type CapturedExchange, type ExchangeLogLimits, type InspectedSocket } from './exchange-log.js';
export { captureInto } from './capture.js';
export { HeaderMask } from './mask.js';
export { InspectorServer, TOKEN_HEADER, type InspectorServerOptions } from './server.js';
