export {
  PROTOCOL_VERSION,
  HEADER_SIZE,
  MAX_PAYLOAD,
  MAX_EVENT_PAYLOAD,
  DATA_CHUNK,
  FrameType,
  Flag,
  ErrorCode,
  ERROR_CODE_NAMES,
  FRAME_TYPE_NAMES,
  CloseCode,
  HandshakeHeader,
  HOST_REWRITE_VALUE,
  TUNNEL_PATH,
  TCP_PATH,
  type Frame,
  type StreamKind,
  type OpenPreamble,
  type Hello,
  type RequestEvent,
} from './frame.js';
export { FrameDecoder, encodeFrame, encodeU32, encodeCodeAndReason, decodeCodeAndReason, writeHeader } from './codec.js';
export { ReceiveWindow, INITIAL_WINDOW, MAX_WINDOW, type WindowGrant } from './window.js';
export { MuxStream } from './stream.js';
export {
  WebSocketByteStream,
  TcpStreamError,
  TcpCloseCode,
  TCP_END_MESSAGE,
  TCP_MAX_MESSAGE,
  type WebSocketByteStreamOptions,
} from './ws-byte-stream.js';
export { MuxSession, DEFAULT_MAX_STREAMS, type SessionOptions, type SessionRole, type SessionCloseInfo } from './session.js';
export { ProtocolError, StreamResetError, SessionClosedError } from './errors.js';
export {
  startMonitoringServer,
  statusClass,
  ALL_STATUS_CLASSES,
  type MonitoringProbes,
  type MonitoringServer,
  type ProbeResult,
  type StatusClass,
} from './monitoring-server.js';
