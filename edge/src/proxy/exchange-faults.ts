import { EdgeError } from '../errors.js';
import { storeOutageOf } from '../store-outage.js';

/**
 * Where in one exchange an unexpected exception was caught: the `stage` label of
 * `postern_edge_exchange_failures_total`.
 *
 * - `request`: routing, policy, header filters, opening the request's stream;
 * - `response_head`: relaying the app's status and headers (from the connector's RESPONSE);
 * - `response_body`: relaying body bytes, the end, or the client's backpressure;
 * - `upgrade`: joining a WebSocket to its stream.
 *
 * In tunnel protocol 2 the edge runs no HTTP client (the connector makes the request to the app):
 * an answer the app's bytes make unusable is the connector's TARGET_FAILED, an ordinary 502, not a
 * fault. What is left here is the edge's own code handling one exchange.
 */
export const FAULT_STAGES = ['request', 'response_head', 'response_body', 'upgrade'] as const;
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
 * The outermost boundary around one request's own code on the edge (routing, policy, header
 * filters, starting its exchange), thrown or, for a step that awaits, rejected: an exception there
 * ends that request with the edge's page (or its connection, if an answer began), logged once and
 * counted through `fault`; the edge serves on. The database not answering is no fault of the
 * exchange: that request gets 503 STORE_UNAVAILABLE (the outage is logged once, by its monitor).
 * Later steps are contained by the exchange itself.
 */
export function containRequest(run: () => void | Promise<void>, fault: (f: ExchangeFault) => void, respond: (err: EdgeError) => void): void {
  const failed = (caught: ExchangeFault): void => {
    const outage = storeOutageOf(caught.cause);
    if (!outage) fault(caught);
    const answer = outage ?? new EdgeError('EXCHANGE_FAILED', 'The edge could not complete this request; it is logged with its request id.', { cause: caught });
    attempt('request', () => respond(answer));
  };
  let pending: unknown;
  const caught = attempt('request', () => void (pending = run()));
  if (caught) return failed(caught);
  if (pending instanceof Promise) pending.catch((err: unknown) => failed(err instanceof ExchangeFault ? err : new ExchangeFault('request', err)));
}
