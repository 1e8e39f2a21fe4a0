#!/usr/bin/env node
import { CommanderError } from 'commander';
import { normalizeAliases } from './rule-options.js';
import { CliError } from './errors.js';
import { loadedEdge } from './load-edge.js';
import { out } from './output.js';
import { buildProgram } from './program.js';

const program = buildProgram();

/** Errors the user can act on print one line; anything else too, with the stack only under --debug. */
function report(err: unknown): never {
  if (err instanceof CommanderError) process.exit(err.exitCode);
  const edge = loadedEdge(); // its errors exist only once an edge command has loaded it
  const known = err instanceof CliError || (edge !== undefined && (err instanceof edge.ConfigError || err instanceof edge.AdminError));
  const message = err instanceof Error ? err.message : String(err);
  out.error(known ? message : `unexpected failure: ${message}`);
  if (program.opts<{ debug?: boolean }>().debug) out.debug(err);
  process.exit(1);
}

program.parseAsync(normalizeAliases(process.argv)).catch(report);
