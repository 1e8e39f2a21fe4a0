#!/usr/bin/env node
import { PolicyError, PolicyFileError } from '@postern/shared/policy';
import { CommanderError } from 'commander';
import { normalizeAliases } from './rule-options.js';
import { CliError } from './errors.js';
import { leftOutPackageError, loadedEdge } from './load-edge.js';
import { out } from './output.js';
import { buildProgram } from './program.js';

const program = buildProgram();

/** Errors the user can act on print one line; anything else too, with the stack only under --debug. */
function report(thrown: unknown): never {
  if (thrown instanceof CommanderError) process.exit(thrown.exitCode);
  const err = leftOutPackageError(thrown) ?? thrown; // e.g. pg, imported once the edge opens PostgreSQL
  const edge = loadedEdge(); // its errors exist only once an edge command has loaded it
  const known =
    err instanceof CliError ||
    err instanceof PolicyFileError ||
    err instanceof PolicyError ||
    (edge !== undefined && (err instanceof edge.ConfigError || err instanceof edge.AdminError));
  const message = err instanceof Error ? err.message : String(err);
  out.error(known ? message : `unexpected failure: ${message}`);
  if (program.opts<{ debug?: boolean }>().debug) out.debug(thrown);
  process.exit(1);
}

program.parseAsync(normalizeAliases(process.argv)).catch(report);
