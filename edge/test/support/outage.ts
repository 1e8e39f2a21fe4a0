import { StoreOutageGrace } from '../../src/auth/outage-grace.js';
import { StoreHealth } from '../../src/observability/store-health.js';

/** A grace over a store that always answers: what unit tests of the cached paths give SessionService. */
export const storeAlwaysUp = (graceMs = 3_600_000): StoreOutageGrace => new StoreOutageGrace(new StoreHealth(async () => true), graceMs);
