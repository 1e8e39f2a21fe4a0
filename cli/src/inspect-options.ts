import { isIP } from 'node:net';
import { captureInto, ExchangeLog, HeaderMask, InspectorServer, type ObserveExchange, type Target } from '@postern/connector';
import type { SocketView } from '@postern/edge';
import { formatByteSize, parseByteSize } from '@postern/edge/client';
import type { Command } from 'commander';
import { CliError } from './errors.js';
import { parseIntInRange, parseListenAddress } from './parse.js';

export interface InspectOptions {
  inspect?: string;
  inspectKeep: string;
  inspectBodyLimit: string;
  inspectUnmask?: boolean;
}

export const DEFAULT_INSPECT_KEEP = 100;
const MAX_INSPECT_KEEP = 10_000;
const MAX_BODY_LIMIT = 10 * 1024 * 1024;
/**
 * What the kept exchanges may hold in all: the oldest go first past it, whatever --inspect-keep
 * says. 100 exchanges with two 64 KiB bodies each fit (13 MiB) with room for large heads.
 */
export const INSPECT_MEMORY_BYTES = 64 * 1024 * 1024;

export function addInspectOptions(command: Command): Command {
  return command
    .option('--inspect <[host:]port>', 'serve a live request inspector (headers, bodies, replay) on this loopback address, e.g. 4040 or 127.0.0.1:4040')
    .option('--inspect-keep <n>', 'exchanges the inspector keeps (the newest)', String(DEFAULT_INSPECT_KEEP))
    .option('--inspect-body-limit <size>', 'bytes of each request and response body the inspector keeps, e.g. 64KiB or 1MiB', '64KiB')
    .option('--inspect-unmask', 'show identity headers, cookies, credentials and the Postern assertion in the inspector (masked by default)');
}

export interface InspectSettings {
  readonly host: string;
  readonly port: number;
  readonly keep: number;
  readonly bodyLimit: number;
  readonly unmask: boolean;
}

const isLoopback = (host: string): boolean =>
  host === 'localhost' || (isIP(host) === 4 && host.startsWith('127.')) || (isIP(host) === 6 && /^(0*:)*:?0*1$/.test(host));

/** The inspector settings from the flags; undefined when --inspect is not given (then nothing is captured). */
export function inspectSettings(opts: InspectOptions): InspectSettings | undefined {
  if (opts.inspect === undefined) return undefined;
  const { host, port } = parseListenAddress(opts.inspect, '--inspect');
  if (!isLoopback(host)) {
    throw new CliError(`--inspect shows captured requests with their headers and bodies, so it listens on loopback only (127.0.0.1, ::1 or localhost), not "${host}"`);
  }
  const bodyLimit = parseByteSize(opts.inspectBodyLimit);
  if (bodyLimit === undefined || bodyLimit < 0 || bodyLimit > MAX_BODY_LIMIT) {
    throw new CliError(`--inspect-body-limit must be a size from 0 to ${formatByteSize(MAX_BODY_LIMIT)} such as 64KiB or 1MiB, not "${opts.inspectBodyLimit}"`);
  }
  return { host, port, keep: parseIntInRange(opts.inspectKeep, 1, MAX_INSPECT_KEEP, '--inspect-keep'), bodyLimit, unmask: Boolean(opts.inspectUnmask) };
}

export interface RunningInspector {
  /** The exchange hook for one HTTP socket whose app is `app`. */
  observe(socket: SocketView, app: Target): ObserveExchange;
  readonly server: InspectorServer;
}

/** Starts the inspector's page (titled `title`); each socket served then gets its capture from observe(). */
export async function startInspector(settings: InspectSettings, title: string): Promise<RunningInspector> {
  const log = new ExchangeLog({ count: settings.keep, bytes: INSPECT_MEMORY_BYTES });
  let server: InspectorServer;
  try {
    server = await InspectorServer.listen(settings.host, settings.port, { log, bodyLimit: settings.bodyLimit, title });
  } catch (err) {
    throw new CliError(`cannot serve --inspect on ${settings.host}:${settings.port}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return {
    server,
    observe: (socket, app) => {
      const { email, user } = socket.identity_headers;
      const mask = new HeaderMask([email, user], !settings.unmask);
      return captureInto(log, { name: socket.name, app, mask, userHeader: email.toLowerCase() }, settings.bodyLimit);
    },
  };
}
