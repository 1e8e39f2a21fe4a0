import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import { EdgeError } from '../errors.js';

/**
 * Where in one exchange an unexpected exception was caught: the `stage` label of
 * `postern_edge_exchange_failures_total`.
 *
 * - `request`: starting the request to the app (header filters, the dispatch itself);
 * - `response_head`: relaying the app's status and headers;
 * - `response_body`: relaying body bytes, the end, or the client's backpressure;
 * - `upgrade`: joining a WebSocket to its stream;
 * - `http_client`: inside the HTTP client, on an event of the stream it reads from.
 */
export const FAULT_STAGES = ['request', 'response_head', 'response_body', 'upgrade', 'http_client'] as const;
export type FaultStage = (typeof FAULT_STAGES)[number];

/**
 * An exception caught inside one exchange. It travels the exchange's one failure path (a 502 if
 * nothing was sent, a cut answer otherwise), is logged once and counted; the edge keeps serving.
 */
export class ExchangeFault extends Error {
  override readonly name = 'ExchangeFault';

  constructor(
    readonly stage: FaultStage,
    cause: unknown,
  ) {
    super(`${stage}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
  }
}

/** Runs `step`; an exception comes back as an ExchangeFault instead of unwinding into the caller. */
export function attempt(stage: FaultStage, step: () => void): ExchangeFault | undefined {
  try {
    step();
    return undefined;
  } catch (err) {
    return err instanceof ExchangeFault ? err : new ExchangeFault(stage, err);
  }
}

/**
 * The handler the HTTP client calls, around the exchange's own: an exception in any callback is
 * caught at this boundary and handed to `onFault`, whatever undici would do with it (some of its
 * callers catch and destroy the socket, others let it escape to the process).
 */
export class ContainedHandler implements Dispatcher.DispatchHandler {
  constructor(
    private readonly inner: Dispatcher.DispatchHandler,
    private readonly onFault: (fault: ExchangeFault) => void,
  ) {}

  private run(stage: FaultStage, step: () => void): void {
    const fault = attempt(stage, step);
    if (fault) this.onFault(fault);
  }

  onRequestStart(controller: Dispatcher.DispatchController, context: unknown): void {
    this.run('request', () => this.inner.onRequestStart?.(controller, context));
  }

  onRequestUpgrade(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[]>, socket: Duplex): void {
    this.run('upgrade', () => this.inner.onRequestUpgrade?.(controller, statusCode, headers, socket));
  }

  onResponseStart(controller: Dispatcher.DispatchController, statusCode: number, headers: Record<string, string | string[]>, statusMessage?: string): void {
    this.run('response_head', () => this.inner.onResponseStart?.(controller, statusCode, headers, statusMessage));
  }

  onResponseData(controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.run('response_body', () => this.inner.onResponseData?.(controller, chunk));
  }

  onResponseEnd(controller: Dispatcher.DispatchController, trailers: Record<string, string | string[]>): void {
    this.run('response_body', () => this.inner.onResponseEnd?.(controller, trailers));
  }

  onResponseError(controller: Dispatcher.DispatchController, err: Error): void {
    this.run('response_body', () => this.inner.onResponseError?.(controller, err));
  }
}

/**
 * The HTTP client parses answers inside its listeners of the stream's events ('readable', 'end',
 * 'close'); an exception there (an assertion of its parser) would escape through Node's stream
 * machinery and end the process. On this stream it destroys the stream instead, with an
 * ExchangeFault: the client fails the one request on it, whose exchange logs and counts it.
 */
export function containStreamListeners(stream: Duplex): void {
  const emit = stream.emit;
  stream.emit = function containedEmit(this: Duplex, event: string | symbol, ...args: unknown[]): boolean {
    try {
      return emit.call(this, event, ...args);
    } catch (err) {
      this.destroy(new ExchangeFault('http_client', err));
      return true;
    }
  } as typeof stream.emit;
}

/**
 * The outermost boundary around one request's own code on the edge (routing, policy, header
 * filters, starting its exchange): an exception there ends that request with the edge's page (or
 * its connection, if an answer began), logged once and counted through `fault`; the edge serves on.
 * Later steps are contained by the exchange itself.
 */
export function containRequest(run: () => void, fault: (f: ExchangeFault) => void, respond: (err: EdgeError) => void): void {
  const caught = attempt('request', run);
  if (!caught) return;
  fault(caught);
  attempt('request', () => respond(new EdgeError('EXCHANGE_FAILED', 'The edge could not complete this request; it is logged with its request id.', { cause: caught })));
}
