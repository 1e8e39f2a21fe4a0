/** Why a connector stopped or could not connect. `fatal` errors end it; others are retried. */
export type ConnectorErrorCode =
  | 'UNAUTHORIZED'
  | 'FORBIDDEN'
  | 'SOCKET_NOT_FOUND'
  | 'SOCKET_DELETED'
  | 'TUNNEL_DELETED'
  | 'PROTOCOL_VERSION'
  | 'BAD_REQUEST'
  | 'EDGE_UNREACHABLE'
  | 'EDGE_ERROR'
  | 'EDGE_GOING_AWAY'
  | 'TUNNEL_CLOSED';

const FATAL: ReadonlySet<ConnectorErrorCode> = new Set([
  'UNAUTHORIZED',
  'FORBIDDEN',
  'SOCKET_NOT_FOUND',
  'SOCKET_DELETED',
  'TUNNEL_DELETED',
  'PROTOCOL_VERSION',
  'BAD_REQUEST',
]);

export class ConnectorError extends Error {
  override readonly name = 'ConnectorError';
  readonly fatal: boolean;

  constructor(
    readonly code: ConnectorErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.fatal = FATAL.has(code);
  }
}

/** Maps the edge's refusal of the handshake (HTTP status + JSON body) to an error. */
export function refusalError(status: number, body: string): ConnectorError {
  let message = body.trim().slice(0, 300) || `HTTP ${status}`;
  try {
    const parsed = JSON.parse(body) as { error?: { message?: string } };
    if (parsed.error?.message) message = parsed.error.message;
  } catch {
    /* not JSON: keep the text */
  }
  const code: ConnectorErrorCode =
    status === 401
      ? 'UNAUTHORIZED'
      : status === 403
        ? 'FORBIDDEN'
        : status === 404
          ? 'SOCKET_NOT_FOUND'
          : status === 426
            ? 'PROTOCOL_VERSION'
            : status === 400
              ? 'BAD_REQUEST'
              : 'EDGE_ERROR';
  return new ConnectorError(code, `edge refused the tunnel (${status}): ${message}`);
}
