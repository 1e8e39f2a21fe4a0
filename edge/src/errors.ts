/** Every error the edge shows to a person or a program: a stable code, an HTTP status and a title. */
export const EDGE_ERRORS = {
  BAD_REQUEST: { status: 400, title: 'Bad request' },
  RESERVED_NAME: { status: 400, title: 'Reserved name' },
  AUTHORIZATION_PENDING: { status: 400, title: 'Waiting for approval' },
  SLOW_DOWN: { status: 400, title: 'Polling too fast' },
  DEVICE_CODE_EXPIRED: { status: 400, title: 'Sign-in request expired' },
  DEVICE_DENIED: { status: 400, title: 'Sign-in request denied' },
  UNAUTHORIZED: { status: 401, title: 'Not signed in' },
  TOKEN_EXPIRED: { status: 401, title: 'Token expired' },
  TOKEN_REVOKED: { status: 401, title: 'Token revoked' },
  FORBIDDEN: { status: 403, title: 'Forbidden' },
  NOT_PUBLISHER: { status: 403, title: 'Not allowed to publish' },
  POLICY_DENIED: { status: 403, title: 'Access denied' },
  CROSS_ORIGIN_REQUEST: { status: 403, title: 'Cross-site request refused' },
  NOT_FOUND: { status: 404, title: 'Not found' },
  SOCKET_NOT_FOUND: { status: 404, title: 'No such socket' },
  TUNNEL_NOT_FOUND: { status: 404, title: 'No such tunnel' },
  TOKEN_NOT_FOUND: { status: 404, title: 'No such token' },
  SOCKET_NAME_TAKEN: { status: 409, title: 'Socket name taken' },
  WRONG_PROTOCOL: { status: 409, title: 'Wrong socket protocol' },
  REQUEST_TIMEOUT: { status: 408, title: 'Request timed out' },
  BODY_TOO_LARGE: { status: 413, title: 'Request body too large' },
  PROTOCOL_VERSION: { status: 426, title: 'Protocol version mismatch' },
  RATE_LIMITED: { status: 429, title: 'Too many requests' },
  TOO_MANY_STREAMS: { status: 429, title: 'Too many open requests' },
  TOO_MANY_RESETS: { status: 429, title: 'Too many aborted requests' },
  HEADERS_TOO_LARGE: { status: 431, title: 'Request headers too large' },
  TOO_MANY_HEADERS: { status: 431, title: 'Too many request headers' },
  INTERNAL: { status: 500, title: 'Internal error' },
  TUNNEL_OFFLINE: { status: 502, title: 'Tunnel offline' },
  TUNNEL_ERROR: { status: 502, title: 'Tunnel connection lost' },
  APP_UNREACHABLE: { status: 502, title: 'App not reachable' },
  APP_ERROR: { status: 502, title: 'App closed the connection' },
  APP_BAD_RESPONSE: { status: 502, title: 'Bad answer from the app' },
  EXCHANGE_FAILED: { status: 502, title: 'Request failed at the edge' },
  TUNNEL_BUSY: { status: 503, title: 'Tunnel busy' },
  STORE_UNAVAILABLE: { status: 503, title: 'Edge database unavailable' },
  APP_TIMEOUT: { status: 504, title: 'App did not answer in time' },
} as const satisfies Record<string, { status: number; title: string }>;

export type EdgeErrorCode = keyof typeof EDGE_ERRORS;

export class EdgeError extends Error {
  override readonly name = 'EdgeError';
  readonly status: number;
  readonly title: string;
  /** Extra response headers, such as `retry-after`, or `connection: close` to drop the client's connection. */
  readonly headers: Readonly<Record<string, string>>;

  constructor(
    readonly code: EdgeErrorCode,
    message: string,
    options?: { cause?: unknown; headers?: Readonly<Record<string, string>> },
  ) {
    super(message, options);
    this.status = EDGE_ERRORS[code].status;
    this.title = EDGE_ERRORS[code].title;
    this.headers = options?.headers ?? {};
  }

  toJSON(): { error: { code: EdgeErrorCode; message: string } } {
    return { error: { code: this.code, message: this.message } };
  }
}
