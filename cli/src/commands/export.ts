import { writeFileSync } from 'node:fs';
import { DEFAULT_IDENTITY_HEADERS } from '@postern/edge/client';
import { entryOf, formatPosternFile, type SocketEntry } from '@postern/shared/policy';
import type { Command } from 'commander';
import type { SocketInfo } from '../api-client.js';
import { apiClient, clientOptions } from '../client-command.js';
import type { ClientOptions } from '../credentials.js';
import { CliError } from '../errors.js';
import { out } from '../output.js';
import { readPomerium } from './apply.js';

interface ExportOptions extends ClientOptions {
  output?: string;
  all?: boolean;
  fromPomerium?: string;
  json?: boolean;
}

/** A socket as a postern.yaml entry; header names only where they differ from the edge's defaults. */
export function socketEntry(socket: SocketInfo): SocketEntry {
  const headers = {
    ...(socket.identity_headers.email.toLowerCase() !== DEFAULT_IDENTITY_HEADERS.email.toLowerCase() ? { email: socket.identity_headers.email } : {}),
    ...(socket.identity_headers.user.toLowerCase() !== DEFAULT_IDENTITY_HEADERS.user.toLowerCase() ? { user: socket.identity_headers.user } : {}),
  };
  return entryOf({
    name: socket.name,
    protocol: socket.protocol,
    policy: { version: 1, rules: socket.rules, default: socket.default },
    ...(Object.keys(headers).length > 0 ? { identityHeaders: headers } : {}),
    maxBodyBytes: socket.max_body_bytes,
    allowCrossOriginRequests: socket.allow_cross_origin_requests,
  });
}

const TO_HINT = "add `to:` (the connector's local target, e.g. http://127.0.0.1:3000) to serve it with postern connect --config";

function write(text: string, output: string | undefined): void {
  if (!output) return out.raw(text);
  try {
    writeFileSync(output, text);
  } catch (err) {
    throw new CliError(`cannot write ${output} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  out.success(`wrote ${output}`);
}

export function registerExport(program: Command): void {
  clientOptions(
    program
      .command('export')
      .description('write your sockets and their policies as a postern.yaml (what postern apply reads)')
      .option('-o, --output <file>', 'write to this file instead of stdout')
      .option('--all', 'include quick shares (postern connect without --socket)')
      .option('--from-pomerium <file>', 'convert Pomerium routes instead (nothing is read from the edge); what does not map is reported'),
  ).action(async (opts: ExportOptions) => {
    if (opts.fromPomerium) {
      const { specs, report } = readPomerium(opts.fromPomerium);
      const entries = specs.map(entryOf);
      if (opts.json) return out.json({ sockets: entries, not_mapped: report });
      for (const line of report) out.warn(line);
      return write(formatPosternFile(entries, `converted from Pomerium routes in ${opts.fromPomerium}`), opts.output);
    }
    const sockets = (await apiClient(opts).listSockets()).filter((s) => opts.all || !s.ephemeral);
    const entries = sockets.map(socketEntry);
    if (opts.json) return write(`${JSON.stringify({ sockets: entries }, null, 2)}\n`, opts.output);
    write(formatPosternFile(entries, `exported ${new Date().toISOString()}; ${TO_HINT}`), opts.output);
  });
}
