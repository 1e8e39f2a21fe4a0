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

/** Node's codes for an edge certificate this process does not trust. */
const UNTRUSTED_CERT: ReadonlySet<string> = new Set([
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'UNABLE_TO_GET_ISSUER_CERT',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
]);

/**
 * Why the edge could not be reached, in words: TLS trust problems say what to do about them
 * (a private CA is added with NODE_EXTRA_CA_CERTS, read by Node at start-up); others keep the code.
 */
export function unreachableReason(err: unknown): string {
  const code = (err as { code?: string }).code;
  if (code && UNTRUSTED_CERT.has(code)) {
    return `the edge's TLS certificate is not trusted (${code}); for a private CA start with NODE_EXTRA_CA_CERTS=/path/to/ca.pem`;
  }
  if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return `the edge's TLS certificate does not name this host (${code})`;
  if (code === 'CERT_HAS_EXPIRED' || code === 'CERT_NOT_YET_VALID') return `the edge's TLS certificate is outside its validity period (${code})`;
  return code ?? (err as Error).message;
}
