import { EdgeError } from './errors.js';
import { SqlError } from './store/sql/driver.js';

/** What a client is told to wait before trying again: about the time the edge takes to see the store back. */
export const STORE_RETRY_AFTER_SECONDS = 5;

/** The 503 of a request that needs the database while it does not answer: nothing was sent to the app. */
export function storeUnavailable(cause?: unknown): EdgeError {
  return new EdgeError('STORE_UNAVAILABLE', 'The edge cannot reach its database right now, so it cannot check who you are; nothing was sent to the app. Try again in a few seconds.', {
    cause,
    headers: { 'retry-after': String(STORE_RETRY_AFTER_SECONDS) },
  });
}

/** Causes followed before giving up (an ExchangeFault wraps the error, an EdgeError may wrap that). */
const MAX_CAUSE_DEPTH = 4;

/** Whether `err`, or an error it wraps, says the store did not answer (a SqlError of kind `unavailable`, or the 503 made of one). */
export function isStoreOutage(err: unknown): boolean {
  let current = err;
  for (let depth = 0; depth <= MAX_CAUSE_DEPTH && current instanceof Error; depth++) {
    if (current instanceof SqlError && current.kind === 'unavailable') return true;
    if (current instanceof EdgeError && current.code === 'STORE_UNAVAILABLE') return true;
    current = current.cause;
  }
  return false;
}

/**
 * The answer to an exception that escaped a request's own code: the 503 when the store did not
 * answer (fail closed: the request is refused, never let through), else undefined for the caller's
 * usual error.
 */
export function storeOutageOf(err: unknown): EdgeError | undefined {
  if (!isStoreOutage(err)) return undefined;
  return err instanceof EdgeError && err.code === 'STORE_UNAVAILABLE' ? err : storeUnavailable(err);
}
