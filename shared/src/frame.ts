/**
 * Frame layout of the Postern tunnel protocol (see docs/PROTOCOL.md).
 *
 *  0        1        2        3        4                 8                 12
 *  +--------+--------+--------+--------+-----------------+-----------------+
 *  |version |  type  |      flags      |  stream id (BE) |  length (BE)    |
 *  +--------+--------+--------+--------+-----------------+-----------------+
 *  |                       payload (length bytes)                          |
 */

/**
 * 2: HTTP streams carry their request and response heads as structured frames (OPEN with the
 * request head, RESPONSE with the answer's), and the connector makes the request to its app. A
 * version-1 peer is refused at the handshake with a message that names the side to upgrade.
 */
export const PROTOCOL_VERSION = 2;
export const HEADER_SIZE = 12;

/** Largest payload a peer may send in any frame; larger is a protocol error. */
export const MAX_PAYLOAD = 64 * 1024;
/** Largest DATA payload this implementation sends: small enough that streams interleave fairly. */
export const DATA_CHUNK = 16 * 1024;
/** Largest HELLO document. */
export const MAX_JSON_PAYLOAD = 16 * 1024;
/** Largest OPEN or RESPONSE payload (a request or response head): the frame limit itself. */
export const MAX_HEAD_PAYLOAD = MAX_PAYLOAD;
/** Largest EVENT document: one request log entry, so a flood of them stays cheap to buffer and parse. */
export const MAX_EVENT_PAYLOAD = 4 * 1024;

export const FrameType = {
  OPEN: 0x01,
  ACCEPT: 0x02,
  DATA: 0x03,
  WINDOW: 0x04,
  FIN: 0x05,
  RESET: 0x06,
  PING: 0x07,
  GOAWAY: 0x08,
  HELLO: 0x09,
  EVENT: 0x0a,
  RESPONSE: 0x0b,
} as const;
export type FrameType = (typeof FrameType)[keyof typeof FrameType];

export const FRAME_TYPE_NAMES: Readonly<Record<number, string>> = Object.freeze(
  Object.fromEntries(Object.entries(FrameType).map(([name, value]) => [value, name])),
);

export const Flag = {
  /** On PING: this is the answer. */
  ACK: 0x0001,
  /** On OPEN, RESPONSE and DATA: the sender's direction of the stream ends with this frame (a FIN without one more frame). */
  FIN: 0x0002,
} as const;

export interface Frame {
  readonly type: FrameType;
  readonly flags: number;
  readonly streamId: number;
  readonly payload: Buffer;
}

/** Error codes carried by RESET and GOAWAY frames. */
export const ErrorCode = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  FLOW_CONTROL_ERROR: 2,
  STREAM_CLOSED: 3,
  REFUSED_STREAM: 4,
  CANCEL: 5,
  TARGET_UNREACHABLE: 6,
  INTERNAL_ERROR: 7,
  FRAME_SIZE_ERROR: 8,
  VERSION_MISMATCH: 9,
  TIMEOUT: 10,
  /** The app broke the exchange after the request may have reached it: it closed or reset the connection, or answered something that is not HTTP. */
  TARGET_FAILED: 11,
  /** The app's bytes were not an HTTP/1.1 answer the connector's HTTP client accepts (not HTTP, a smuggling-shaped or oversized head, a body longer or shorter than declared). */
  TARGET_BAD_RESPONSE: 12,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export const ERROR_CODE_NAMES: Readonly<Record<number, string>> = Object.freeze(
  Object.fromEntries(Object.entries(ErrorCode).map(([name, value]) => [value, name])),
);

/** WebSocket close codes the tunnel uses (4000-4999 is the application range). */
export const CloseCode = {
  NORMAL: 1000,
  GOING_AWAY: 1001,
  PROTOCOL_ERROR: 4000,
  UNAUTHORIZED: 4001,
  VERSION_MISMATCH: 4002,
  PING_TIMEOUT: 4008,
  SOCKET_DELETED: 4010,
  TUNNEL_DELETED: 4011,
} as const;
export type CloseCode = (typeof CloseCode)[keyof typeof CloseCode];

/** HTTP headers of the tunnel handshake (the WebSocket upgrade). */
export const HandshakeHeader = {
  PROTOCOL: 'postern-protocol',
  SOCKET: 'postern-socket',
  CONNECTOR: 'postern-connector',
  HOST_REWRITE: 'postern-host-rewrite',
  /** Optional: the tunnel (of that socket) this connector serves; quick shares and old connectors omit it. */
  TUNNEL: 'postern-tunnel',
  /** Optional: `request` asks the edge for request EVENT frames (the live view); without it none are sent. */
  EVENTS: 'postern-events',
} as const;

/** What a connector may send as `postern-host-rewrite` (and `rewrite_host:` in postern.yaml): host or host:port. */
export const HOST_REWRITE_VALUE = /^[a-z0-9.-]{1,253}(?::\d{1,5})?$|^\[[0-9a-f:]+\](?::\d{1,5})?$/i;

/** Path of the tunnel endpoint on the edge's own host. */
export const TUNNEL_PATH = '/v1/tunnel';

/** Path of the TCP stream endpoint (`postern tcp`) on the edge's own host. */
export const TCP_PATH = '/v1/tcp';

/**
 * The kind of traffic a stream carries, the first byte of its OPEN: `http`, one request and its
 * answer; `websocket`, an upgrade request whose stream carries raw bytes after a 101; `tcp`, raw
 * bytes from the start.
 */
export type StreamKind = 'http' | 'websocket' | 'tcp';

/** An HTTP request as the edge's server parsed and policed it: what the connector sends to its app. */
export interface RequestHead {
  readonly method: string;
  /** The request target in origin form (`/path?query`). */
  readonly target: string;
  /** Header fields as [name, value, name, value, ...], in order, duplicates kept. */
  readonly headers: readonly string[];
}

/** The app's answer, as the connector's HTTP client parsed it: what the edge polices and writes to the client. */
export interface ResponseHead {
  readonly status: number;
  /** Header fields as [name, value, ...]; names lower-case. */
  readonly headers: readonly string[];
}

/**
 * What an OPEN carries: the kind, and for http and websocket streams the request head. `socket`
 * names the socket whose connector the stream is for: only on the edge-to-edge link, where one
 * session carries streams for many sockets (a `:socket` pseudo-field); tunnels never carry it.
 */
export type OpenPreamble =
  | { readonly kind: 'tcp'; readonly socket?: string }
  | { readonly kind: 'http' | 'websocket'; readonly request: RequestHead; readonly socket?: string };

/** Sent by the edge as the first frame once a connector is accepted. */
export interface Hello {
  readonly v: 1;
  readonly connectionId: string;
  readonly socket: { readonly id: string; readonly name: string; readonly hostname: string; readonly url: string };
  /** The cluster's live edges, as URLs connectors can dial (optional; the connector filters them, see its edges.ts). */
  readonly peers?: readonly string[];
}

/**
 * EVENT payload the edge sends when a proxied exchange ends: a request log line for the connector
 * to show. `t: 'request'` for every HTTP exchange and for a WebSocket's opening (status 101);
 * `t: 'websocket_close'` when that WebSocket closes. Receivers ignore other `t` values.
 */
export interface RequestEvent {
  readonly t: 'request' | 'websocket_close';
  /** When it ended, ms since the epoch. */
  readonly ts: number;
  readonly method: string;
  /** The path only: query strings can carry secrets. */
  readonly path: string;
  readonly status: number;
  readonly duration_ms: number;
  /** The signed-in user; null on a public socket or for a user without a verified email. */
  readonly email: string | null;
  /** Response body bytes relayed from the app (0 for the edge's own error pages and WebSocket events). */
  readonly bytes_out: number;
}
