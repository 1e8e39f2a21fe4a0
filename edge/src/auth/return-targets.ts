import type { EdgeConfig } from '../config.js';
import type { HostRouter } from '../proxy/router.js';
import { parseReturnTarget, type ReturnTarget } from './redirects.js';

/** Parses `rd` against the sockets this edge serves: only their exact origins or edge paths pass. */
export function returnTargetParser(config: EdgeConfig, router: HostRouter): (raw: string | undefined) => ReturnTarget {
  const scheme = `${config.publicScheme}:`;
  const isSocketOrigin = (origin: string): boolean => {
    const url = new URL(origin);
    return url.protocol === scheme && router.route(url.host).kind === 'socket';
  };
  return (raw) => parseReturnTarget(raw, isSocketOrigin);
}
