/** SIGHUP is a terminal closing (or an SSH session ending): for a program run in it, a request to stop. */
const STOP_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

/**
 * Resolves after the first stop signal once `stop` finished. A second signal exits at once (the
 * user really wants out). `hangup: false` leaves SIGHUP to the caller (the edge reloads TLS on it).
 */
export function onShutdown(stop: () => Promise<void>, options: { readonly hangup?: boolean } = {}): Promise<void> {
  const signals = STOP_SIGNALS.filter((signal) => signal !== 'SIGHUP' || options.hangup !== false);
  return new Promise((resolve, reject) => {
    let stopping = false;
    const handler = (signal: NodeJS.Signals) => {
      if (stopping) process.exit(130);
      stopping = true;
      // The terminal is gone: writing the "stopping" lines fails with EIO or EPIPE, which must not
      // end the process before it has drained and removed its quick share.
      if (signal === 'SIGHUP') for (const stream of [process.stdout, process.stderr]) stream.on('error', () => undefined);
      stop().then(resolve, reject);
    };
    for (const signal of signals) process.on(signal, handler);
  });
}
