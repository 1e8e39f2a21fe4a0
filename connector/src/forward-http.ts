import type { IncomingHttpHeaders } from 'node:http';
import type { Duplex } from 'node:stream';
import {
  ErrorCode,
  HeadError,
  StreamDuplex,
  StreamResetError,
  type MuxStream,
  type RequestHead,
  type ResponseHead,
  type StreamHandler,
} from '@postern/shared';
import { AssertionError } from 'node:assert';
import { errors as undiciErrors, type Dispatcher } from 'undici';
import { targetLabel } from './forward-tcp.js';
import type { ExchangeObserver, StreamObserver, Target } from './target.js';

/** undici refused the request itself (a field it does not allow): the edge sent a head it should not have. */
const REFUSED_BY_CLIENT = new Set(['UND_ERR_INVALID_ARG', 'UND_ERR_NOT_SUPPORTED']);

/** Answers that never have a body, whatever length they declare (RFC 9110, sections 6.4.1 and 8.6). */
const BODILESS = new Set([204, 304]);

/** The app's bytes were not an HTTP/1.1 answer undici accepts (its parser, or its own checks, refused them). */
function isBadResponse(err: Error): boolean {
  return (
    err instanceof undiciErrors.HTTPParserError ||
    err instanceof undiciErrors.ResponseContentLengthMismatchError ||
    err instanceof undiciErrors.HeadersOverflowError ||
    // undici's own assertions on bytes it cannot place (a status line such as `099`)
    err instanceof AssertionError ||
    (err instanceof undiciErrors.SocketError && (err.message === 'bad response' || err.message === 'bad upgrade'))
  );
}

/** The size of a head as HTTP/1.1 writes it (the start line, `name: value` lines, the blank line). */
function headBytes(startLine: number, fields: readonly string[]): number {
  let n = startLine + 2;
  for (let i = 0; i < fields.length; i += 2) n += fields[i]!.length + fields[i + 1]!.length + 4;
  return n;
}

/** Response header object (undici's) as a field list; names are lower-case already. */
export function fieldList(headers: IncomingHttpHeaders): string[] {
  const out: string[] = [];
  for (const name in headers) {
    const value = headers[name];
    if (value === undefined) continue;
    if (typeof value === 'string') out.push(name, value);
    else for (const v of value) out.push(name, v);
  }
  return out;
}

/**
 * One HTTP request the edge sent on a stream, made to the local app with undici, and its answer
 * sent back: RESPONSE with the status and headers, then the body as DATA, then FIN. Backpressure
 * both ways: the request body is credited to the edge as undici takes it; the response pauses undici
 * while the stream's queue is full. An error before undici started the request means the app was
 * not reachable (TARGET_UNREACHABLE: the edge may try another connector); any later failure before
 * the answer is TARGET_FAILED; after the answer began, a RESET, which the edge turns into a cut
 * response. A WebSocket upgrade answered 101 becomes a byte stream both ways.
 */
export class HttpForward implements StreamHandler, Dispatcher.DispatchHandler {
  private controller: Dispatcher.DispatchController | null = null;
  private options: Dispatcher.DispatchOptions | null;
  /** The request body as undici reads it: the stream's bytes, credited back to the edge as undici takes them. */
  private readonly body: StreamDuplex | null;
  private responded = false;
  /** The answer is whole already (a bodiless one): what undici reports after it changes nothing. */
  private complete = false;
  private readonly head: boolean;
  private finished = false;
  private bytesToApp = 0;
  private bytesFromApp = 0;

  constructor(
    private readonly stream: MuxStream,
    request: RequestHead,
    upgrade: boolean,
    /** Whether the request has a body (the OPEN did not carry FIN). */
    hasBody: boolean,
    private readonly target: Target,
    private readonly metrics: StreamObserver | undefined,
    private readonly inspector: ExchangeObserver | undefined,
  ) {
    this.body = hasBody ? new StreamDuplex(stream, { detached: true }) : null;
    this.head = request.method === 'HEAD';
    this.bytesToApp = headBytes(request.method.length + request.target.length + 11, request.headers);
    const { method, headers } = request;
    this.options = { method, path: request.target, headers: headers as string[], body: this.body, ...(upgrade ? { upgrade: 'websocket' } : {}) };
    this.body?.on('error', () => undefined);
    stream.attach(this);
  }

  /** Sends the request to the app through `dispatcher`. */
  start(dispatcher: Dispatcher): void {
    const options = this.options!;
    this.options = null; // a WebSocket may live for days: it keeps nothing of its request
    dispatcher.dispatch(options, this);
  }

  // ---- StreamHandler: the edge's side ----

  onStreamData(chunk: Buffer, last: boolean): void {
    if (chunk.length > 0) {
      this.bytesToApp += chunk.length;
      this.inspector?.requestBody?.(chunk);
    }
    if (this.body) this.body.onStreamData(chunk, last);
    else this.stream.consumed(chunk.length);
  }

  onStreamDrain(): void {
    this.controller?.resume();
  }

  onStreamClose(err?: Error): void {
    if (err) {
      // The edge reset the stream (its client left) or the tunnel failed: stop the app's request.
      this.controller?.abort(err);
      this.body?.destroy();
    }
    this.end(err);
  }

  // ---- undici DispatchHandler: the app's side ----

  onRequestStart(controller: Dispatcher.DispatchController): void {
    this.controller = controller;
    if (this.stream.closed) controller.abort(new Error('the edge closed the stream'));
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders): void {
    if (statusCode < 200) return; // informational: the edge answers 100-continue itself
    // Complete at its head: undici 7 then fails a 304 that declares its representation's
    // Content-Length (which RFC 9110 allows) as a length mismatch; the client must not lose the answer.
    const bodiless = BODILESS.has(statusCode) || this.head;
    if (this.respond(controller, { status: statusCode, headers: fieldList(headers) }, bodiless)) this.complete = bodiless;
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    if (this.complete) return;
    this.bytesFromApp += chunk.length;
    this.inspector?.responseBody?.(chunk);
    if (!this.stream.write(chunk)) controller.pause();
  }

  onResponseEnd(): void {
    this.stream.end();
  }

  onResponseError(_controller: Dispatcher.DispatchController, err: Error): void {
    if (this.stream.closed) return;
    if (this.complete) return; // the stream closes once both ends are done
    if (this.responded) return this.fail(ErrorCode.TARGET_FAILED, `the app's answer broke off: ${describe(err)}`, err);
    const code = (err as NodeJS.ErrnoException).code ?? 'unknown';
    if (REFUSED_BY_CLIENT.has(code)) return this.fail(ErrorCode.PROTOCOL_ERROR, `the request was refused by the HTTP client: ${err.message}`, err);
    if (this.controller === null) {
      // undici starts a request only on a connected socket: nothing reached the app.
      this.metrics?.dialFailed(code);
      return this.fail(ErrorCode.TARGET_UNREACHABLE, `${code === 'unknown' ? err.message : code} connecting to ${targetLabel(this.target)}`, err);
    }
    this.fail(isBadResponse(err) ? ErrorCode.TARGET_BAD_RESPONSE : ErrorCode.TARGET_FAILED, describe(err), err);
  }

  onRequestUpgrade(controller: Dispatcher.DispatchController, statusCode: number, headers: IncomingHttpHeaders, socket: Duplex): void {
    if (!this.respond(controller, { status: statusCode, headers: fieldList(headers) })) {
      socket.destroy();
      return;
    }
    // From here the stream carries the WebSocket's bytes as they are, both ways; undici's request is done.
    this.controller = null;
    const bytes = new StreamDuplex(this.stream);
    socket.on('error', (err) => bytes.destroy(new StreamResetError(ErrorCode.TARGET_FAILED, describe(err), false)));
    bytes.once('close', () => {
      if (bytes.errored || !(bytes.readableEnded && bytes.writableFinished)) socket.destroy();
      this.end(bytes.errored ?? undefined);
    });
    socket.once('close', () => bytes.destroy());
    // Extra listeners on streams already flowing through pipe(): they count, they do not steer.
    socket.on('data', (chunk: Buffer) => {
      this.bytesFromApp += chunk.length;
      this.inspector?.responseBody?.(chunk);
    });
    bytes.on('data', (chunk: Buffer) => {
      this.bytesToApp += chunk.length;
      this.inspector?.requestBody?.(chunk);
    });
    socket.pipe(bytes);
    bytes.pipe(socket);
  }

  // ---- internals ----

  /** Sends the answer's head; false (and the stream reset) when it cannot travel. */
  private respond(controller: Dispatcher.DispatchController, head: ResponseHead, fin = false): boolean {
    if (this.responded || this.stream.closed) return false;
    try {
      this.stream.respond(head, fin);
    } catch (err) {
      if (!(err instanceof HeadError)) throw err;
      controller.abort(err);
      this.fail(ErrorCode.TARGET_BAD_RESPONSE, `the app's response head cannot be relayed: ${err.message}`, err);
      return false;
    }
    this.responded = true;
    this.bytesFromApp += headBytes(15, head.headers);
    this.inspector?.response?.(head);
    return true;
  }

  private fail(code: ErrorCode, reason: string, err: Error): void {
    this.stream.reset(code, reason);
    this.end(err);
  }

  private end(err: Error | undefined): void {
    if (this.finished) return;
    this.finished = true;
    this.metrics?.streamEnded(this.bytesToApp, this.bytesFromApp);
    this.inspector?.end?.(err);
  }
}

/** A person-readable reason from an undici or socket error. */
function describe(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code && !err.message.includes(code) ? `${code}: ${err.message}` : err.message;
}
