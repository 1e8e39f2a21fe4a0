#!/usr/bin/env node
import { ConfigError, AdminError } from '@postern/edge';
import { Command, CommanderError } from 'commander';
import { registerAdmin } from './commands/admin.js';
import { normalizeAliases, registerConnect } from './commands/connect.js';
import { registerEdge } from './commands/edge.js';
import { CliError } from './errors.js';
import { out } from './output.js';

const program = new Command()
  .name('postern')
  .description('Postern: publish private web apps through an identity-aware edge, without opening a port')
  .version('0.1.0')
  .option('--debug', 'show stack traces on errors')
  .configureOutput({ outputError: (text, write) => write(out.colorError(text)) })
  .exitOverride();

registerEdge(program);
registerAdmin(program);
registerConnect(program);

/** Errors the user can act on print one line; anything else too, with the stack only under --debug. */
function report(err: unknown): never {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  const known = err instanceof CliError || err instanceof ConfigError || err instanceof AdminError;
  const message = err instanceof Error ? err.message : String(err);
  out.error(known ? message : `unexpected failure: ${message}`);
  if (program.opts<{ debug?: boolean }>().debug) out.debug(err);
  process.exit(1);
}

program.parseAsync(normalizeAliases(process.argv)).catch(report);
