export { ExchangeLog, type CapturedExchange, type ExchangeLogLimits } from './exchange-log.js';
export { captureInto, type CaptureOptions } from './capture.js';
export { HeaderMask } from './mask.js';
export { InspectorServer, TOKEN_HEADER, type InspectorServerOptions } from './server.js';
