import type { IncomingMessage } from 'node:http';
import { clientAddress } from '../net/client-address.js';
import type { LimitsConfig } from '../config.js';
import { EdgeError } from '../errors.js';
import type { SocketRecord } from '../store/sockets.js';
import { bodyTooLarge, RequestBodyGuard } from './request-body.js';
import type { LimitReporter } from './reporter.js';
import { ResetRate } from './reset-rate.js';
import { StreamQuota } from './stream-quota.js';

/** What a client is told to wait when streams are full: they free up as requests finish. */
const STREAMS_RETRY_AFTER_S = 1;

/** What an exchange holds once its limits let it start: its stream slot, and its body behind the body limits. */
export interface ExchangeAllowance {
  /** Gives the stream slot back (safe to call more than once). */
  readonly release: () => void;
  /** The client's body behind its size and idle limits; null when there is none. */
  readonly body: RequestBodyGuard | null;
}

/**
 * The limits of the proxy path for socket hosts, one call per stage of a request: before any
 * policy (`checkResets`: aborted-request rate per client address), before its identity is prepared
 * (`checkDeclaredBody`), and as its exchange starts (`openExchange`: a stream slot per user, the
 * streamed body's size and idleness). `tunnelBusy` is the answer when every tunnel connection is full.
 * Each refusal is an EdgeError with its status and headers, reported once to the LimitReporter.
 */
export class ProxyLimits {
  private readonly resets: ResetRate;
  private readonly streams: StreamQuota;

  constructor(
    private readonly limits: LimitsConfig,
    readonly reporter: LimitReporter,
  ) {
    this.resets = new ResetRate(limits.maxClientResets, limits.clientResetWindowMs);
    this.streams = new StreamQuota(limits.maxStreamsPerUser);
  }

  /** A client address that aborted too many requests lately is refused (429) and its connection closed. */
  checkResets(req: IncomingMessage): EdgeError | undefined {
    const client = clientAddress(req);
    const wait = this.resets.retryAfter(client);
    if (wait === 0) return undefined;
    const { maxClientResets, clientResetWindowMs } = this.limits;
    this.reporter.hit('client_resets', client, 'client aborted too many requests', { client, max: maxClientResets, window_ms: clientResetWindowMs });
    return new EdgeError('TOO_MANY_RESETS', `This address aborted more than ${maxClientResets} requests in ${clientResetWindowMs / 1000} s. Try again in ${wait} s.`, {
      headers: { 'retry-after': String(wait), connection: 'close' },
    });
  }

  /** The client left before the answer to `req` finished. */
  recordAbort(req: IncomingMessage): void {
    this.resets.record(clientAddress(req));
  }

  /** The body limit of a socket: its own, or the edge's. */
  maxBodyBytes(socket: SocketRecord): number {
    return socket.maxBodyBytes ?? this.limits.maxBodyBytes;
  }

  /** A declared Content-Length over the limit is refused before anything reaches the app. */
  checkDeclaredBody(req: IncomingMessage, socket: SocketRecord): EdgeError | undefined {
    const declared = req.headers['content-length'];
    const max = this.maxBodyBytes(socket);
    if (declared === undefined || Number(declared) <= max) return undefined;
    this.reportBody(req, socket, 'body_size', { declared: Number(declared), max });
    return bodyTooLarge(max);
  }

  /**
   * The limits of an exchange that is about to start: a stream slot for whoever asks (the 429 to
   * answer when they hold too many), and the body (`withBody`) behind the size and idle checks.
   */
  openExchange(req: IncomingMessage, socket: SocketRecord, userId: string | null, withBody: boolean): ExchangeAllowance | EdgeError {
    const release = this.acquireStream(req, socket, userId);
    if (release instanceof EdgeError) return release;
    return { release, body: withBody ? this.guardBody(req, socket) : null };
  }

  /** Wraps the request body of `req` in the size and idle checks of its socket. */
  private guardBody(req: IncomingMessage, socket: SocketRecord): RequestBodyGuard {
    const max = this.maxBodyBytes(socket);
    return new RequestBodyGuard(req, {
      maxBytes: max,
      idleMs: this.limits.bodyIdleTimeoutMs,
      onViolation: (limit) => this.reportBody(req, socket, limit, limit === 'body_size' ? { max } : { idle_ms: this.limits.bodyIdleTimeoutMs }),
    });
  }

  /**
   * A stream slot for whoever asks: the signed-in user on a socket with sign-in, the client address
   * on a public one. Returns its release, or the 429 to answer.
   */
  private acquireStream(req: IncomingMessage, socket: SocketRecord, userId: string | null): (() => void) | EdgeError {
    const who = userId ?? clientAddress(req);
    const release = this.streams.acquire(`${socket.id}\u0000${who}`);
    if (release) return release;
    const max = this.limits.maxStreamsPerUser;
    this.reporter.hit('streams_per_user', `${socket.id} ${who}`, 'too many streams open for one user', { socket: socket.id, ...(userId ? { user: userId } : { client: who }), max });
    return new EdgeError('TOO_MANY_STREAMS', `You already have ${max} requests or WebSockets open to this app; wait for some to finish.`, {
      headers: { 'retry-after': String(STREAMS_RETRY_AFTER_S) },
    });
  }

  /** Every tunnel connection of the socket carries as many streams as it may (503, try again soon). */
  tunnelBusy(socket: SocketRecord, host: string): EdgeError {
    const max = this.limits.maxStreamsPerConnection;
    this.reporter.hit('streams_per_connection', socket.id, 'every tunnel connection of the socket is full', { socket: socket.id, max });
    return new EdgeError('TUNNEL_BUSY', `Every connector connection of ${host} already carries ${max} streams. Try again shortly.`, {
      headers: { 'retry-after': String(STREAMS_RETRY_AFTER_S) },
    });
  }

  private reportBody(req: IncomingMessage, socket: SocketRecord, limit: 'body_size' | 'body_idle_timeout', detail: Readonly<Record<string, unknown>>): void {
    const client = clientAddress(req);
    const message = limit === 'body_size' ? 'request body over the limit' : 'request body stopped arriving';
    this.reporter.hit(limit, `${socket.id} ${client}`, message, { socket: socket.id, client, ...detail });
  }
}
