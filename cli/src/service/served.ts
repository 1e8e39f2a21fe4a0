import { realpathSync } from 'node:fs';
import { Command, CommanderError } from 'commander';
import type { ApiClient } from '../api-client.js';
import { registerConnect } from '../commands/connect.js';
import { registerTcp } from '../commands/tcp.js';
import type { Credentials } from '../credentials.js';
import { CliError } from '../errors.js';
import { releaseInfo } from '../release-info.js';
import { TcpClient } from '../tcp-client.js';

// What a service runs: the postern command given after "--", checked before a unit is written.

/** Flags the unit sets itself: the edge resolved now, the token from its credential file. */
const CREDENTIAL_FLAGS = ['--edge', '--token-file'];

export function withoutCredentialFlags(args: readonly string[]): string[] {
  const kept: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const flag = args[i]!.split('=')[0]!;
    if (!CREDENTIAL_FLAGS.includes(flag)) kept.push(args[i]!);
    else if (!args[i]!.includes('=')) i++; // its value
  }
  return kept;
}

/** What the service runs, parsed by the real `connect` / `tcp` definitions (so a typo fails now, not at boot). */
export interface Served {
  readonly args: string[];
  readonly command: 'connect' | 'tcp';
  readonly opts: Readonly<Record<string, unknown>>;
}

export function parseServed(args: readonly string[]): Served {
  const command = args[0];
  if (command !== 'connect' && command !== 'tcp') {
    throw new CliError(`a service runs "connect …" or "tcp --listen …", given after "--", e.g. postern service install --name grafana -- connect --socket ID --port 3000${command ? ` (not "${command}")` : ''}`);
  }
  const probe = new Command().exitOverride().configureOutput({ writeOut: () => undefined, writeErr: () => undefined });
  registerConnect(probe);
  registerTcp(probe);
  let opts: Record<string, unknown> = {};
  for (const sub of probe.commands) sub.action((options: Record<string, unknown>) => void (opts = options));
  try {
    probe.parse(args, { from: 'user' });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    throw new CliError(`the service's command: ${err.message.replace(/^error: /, '')}`);
  }
  if (command === 'tcp' && !opts.listen) throw new CliError('a tcp service needs --listen [host:]port (--stdio serves one ssh session, not a service)');
  return { args: [...args], command, opts };
}

/** How this postern starts again: the single binary itself, or Node with this script. */
export function executable(): string[] {
  if (releaseInfo?.kind === 'binary') return [process.execPath];
  return [process.execPath, realpathSync(process.argv[1] ?? '')];
}

/** A system service runs as a throw-away user that sees no home directory and its own /tmp. */
export function unreadableBySystemService(paths: readonly string[]): string | undefined {
  return paths.find((path) => /^\/(home|root|tmp|var\/tmp|run\/user)(\/|$)/.test(path));
}

/** Asks the edge whether the token works and the socket exists, so the service does not start to fail. */
export async function checkWithEdge(api: ApiClient, creds: Credentials, served: Served): Promise<void> {
  if (served.command === 'tcp') return void (await new TcpClient(creds, String(served.opts.socket)).check());
  await api.whoami();
  if (typeof served.opts.socket === 'string') await api.getSocket(served.opts.socket);
}
