import type { IncomingMessage } from 'node:http';
import { Transform, type TransformCallback } from 'node:stream';
import { EdgeError } from '../errors.js';
import { formatByteSize } from './size.js';

export type BodyViolation = 'body_size' | 'body_idle_timeout';

export interface BodyLimits {
  readonly maxBytes: number;
  readonly idleMs: number;
  /** Called once, when the body breaks a limit (before the upstream request is aborted). */
  readonly onViolation: (limit: BodyViolation, err: EdgeError) => void;
}

/** The answer to a body over the limit; the connection closes, since the rest of the body is not read. */
export function bodyTooLarge(maxBytes: number): EdgeError {
  return new EdgeError('BODY_TOO_LARGE', `The request body is larger than this app accepts (${formatByteSize(maxBytes)}).`, {
    headers: { connection: 'close' },
  });
}

/**
 * The client's request body on its way to the app: counted against the size limit, and watched for
 * a client that stops sending (a slowloris on the body). Breaking either destroys this stream with
 * an EdgeError, which aborts the upstream request: the app sees its stream reset, never a shortened
 * body presented as complete. Time the app spends not reading (backpressure) is not the client's.
 */
export class RequestBodyGuard extends Transform {
  /** The limit this body broke, if any: the exchange answers with it (413 or 408) if it still can. */
  violation: EdgeError | undefined;
  private received = 0;
  private lastProgress = performance.now();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly source: IncomingMessage,
    private readonly limits: BodyLimits,
  ) {
    super();
    this.on('drain', () => {
      this.lastProgress = performance.now();
    });
    source.once('close', () => {
      if (!source.complete) this.destroy(new Error('the client closed the connection before the end of the request body'));
    });
    source.pipe(this);
    this.timer = setTimeout(this.check, limits.idleMs);
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.received += chunk.length;
    if (this.received > this.limits.maxBytes) {
      callback(this.violate('body_size', bodyTooLarge(this.limits.maxBytes)));
      return;
    }
    this.lastProgress = performance.now();
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    clearTimeout(this.timer);
    callback();
  }

  override _destroy(err: Error | null, callback: (error?: Error | null) => void): void {
    clearTimeout(this.timer);
    this.source.unpipe(this);
    callback(err);
  }

  private readonly check = (): void => {
    this.timer = undefined;
    if (this.destroyed || this.writableEnded) return;
    const now = performance.now();
    // Waiting on the app (or the tunnel window), not on the client: restart the client's allowance.
    if (this.writableNeedDrain || this.source.isPaused()) this.lastProgress = now;
    const idle = now - this.lastProgress;
    if (idle < this.limits.idleMs) {
      this.timer = setTimeout(this.check, this.limits.idleMs - idle);
      return;
    }
    const seconds = Math.round(this.limits.idleMs / 100) / 10;
    this.destroy(
      this.violate('body_idle_timeout', new EdgeError('REQUEST_TIMEOUT', `No request body arrived for ${seconds} s; the request was cancelled.`, { headers: { connection: 'close' } })),
    );
  };

  /** Records the broken limit and stops reading the client: what it still sends is discarded until the connection closes. */
  private violate(limit: BodyViolation, err: EdgeError): EdgeError {
    this.violation = err;
    clearTimeout(this.timer);
    this.source.unpipe(this);
    this.source.resume();
    this.limits.onViolation(limit, err);
    return err;
  }
}
