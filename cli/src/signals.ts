/**
 * Resolves after the first SIGINT or SIGTERM once `stop` finished. A second signal exits at once
 * (the user really wants out).
 */
export function onShutdown(stop: () => Promise<void>): Promise<void> {
  return new Promise((resolve, reject) => {
    let stopping = false;
    const handler = () => {
      if (stopping) process.exit(130);
      stopping = true;
      stop().then(resolve, reject);
    };
    process.on('SIGINT', handler);
    process.on('SIGTERM', handler);
  });
}
