import type { EdgeConfig } from '../config.js';
import type { HostRouter } from '../proxy/router.js';
import { parseReturnTarget, type ReturnTarget } from './redirects.js';

/** Parses `rd` against the sockets this edge serves: only their exact origins or edge paths pass. */
export function returnTargetParser(config: EdgeConfig, router: HostRouter): (raw: string | undefined) => Promise<ReturnTarget> {
  const scheme = `${config.publicScheme}:`;
  return async (raw) => {
    // Parsed first as if every origin were a socket's, then the one it names is looked up.
    const target = parseReturnTarget(raw, () => true);
    if (!target.socketOrigin) return target;
    const url = new URL(target.socketOrigin);
    if (url.protocol === scheme && (await router.route(url.host)).kind === 'socket') return target;
    return { socketOrigin: null, path: '/' };
  };
}
