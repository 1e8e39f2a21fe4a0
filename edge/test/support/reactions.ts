import type { FastifyBaseLogger } from 'fastify';
import { ChangeReactions, type ChangeReactionDeps } from '../../src/cluster/change-reactions.js';
import type { Store } from '../../src/store/index.js';

const noop = (): void => undefined;
export const quietLog = { info: noop, warn: noop, error: noop, debug: noop } as unknown as FastifyBaseLogger;

/** The edge's change listener on `store`'s feed, with the parts a test does not look at stubbed out. */
export function reactionsFor(store: Store, parts: Partial<ChangeReactionDeps>): ChangeReactions {
  return new ChangeReactions(store.cluster.changes, {
    store,
    sessions: { forget: noop, forgetUser: noop, forgetAll: noop },
    tokens: { forget: noop, clear: noop },
    gate: { forgetToken: noop, forgetAll: noop },
    signer: { forget: noop },
    live: { close: noop, closeSocket: noop, sweep: async () => undefined },
    router: { forgetSocket: noop, clear: noop },
    policies: { forget: noop, clear: noop },
    streams: { of: () => [], recheck: async () => undefined },
    control: { socketDeleted: noop, endTunnelsOfToken: async () => undefined },
    tunnelCredentials: { sweep: async () => undefined },
    log: quietLog,
    ...parts,
  });
}
