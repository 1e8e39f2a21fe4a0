import { ConfigError } from '../config.js';

const REASONS: Readonly<Record<string, string>> = {
  EADDRINUSE: 'the address is already in use (another edge or app holds it)',
  EACCES: 'permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE)',
  EADDRNOTAVAIL: 'no interface of this machine has that address',
};

/**
 * A listener that could not open, as one line naming the setting to change: "cannot listen on
 * 127.0.0.1:8080 (--listen): the address is already in use …; stop it, or choose another".
 */
export function listenError(err: unknown, address: string, flag: string): ConfigError {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const reason = REASONS[code] ?? (code || (err as Error).message);
  return new ConfigError(`cannot listen on ${address} (${flag}): ${reason}; stop what holds it, or choose another address with ${flag}`);
}
