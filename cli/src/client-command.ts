import type { Command } from 'commander';
import { ApiClient } from './api-client.js';
import { resolveCredentials, type ClientOptions } from './credentials.js';

/** Adds --edge / --token-file (and --json) to a command that talks to the edge. */
export function clientOptions(command: Command, json = true): Command {
  command.option('--edge <url>', 'edge URL (or POSTERN_EDGE; default: the one you logged in to)');
  command.option('--token-file <file>', 'file holding an API token (or POSTERN_TOKEN; default: your login)');
  if (json) command.option('--json', 'print JSON');
  return command;
}

/** An API client for the edge and token these options resolve to. */
export function apiClient(options: ClientOptions): ApiClient {
  const creds = resolveCredentials(options);
  return new ApiClient(creds.edgeUrl, creds.token);
}
