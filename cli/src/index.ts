#!/usr/bin/env node
import { ConfigError, AdminError } from '@postern/edge';
import { PolicyError, PolicyFileError } from '@postern/shared/policy';
import { CommanderError } from 'commander';
import { normalizeAliases } from './rule-options.js';
import { CliError } from './errors.js';
import { out } from './output.js';
import { buildProgram } from './program.js';

const program = buildProgram();

/** Errors the user can act on print one line; anything else too, with the stack only under --debug. */
function report(err: unknown): never {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  const known = err instanceof CliError || err instanceof ConfigError || err instanceof AdminError || err instanceof PolicyFileError || err instanceof PolicyError;
  const message = err instanceof Error ? err.message : String(err);
  out.error(known ? message : `unexpected failure: ${message}`);
  if (program.opts<{ debug?: boolean }>().debug) out.debug(err);
  process.exit(1);
}

program.parseAsync(normalizeAliases(process.argv)).catch(report);
