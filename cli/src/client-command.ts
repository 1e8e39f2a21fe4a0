import type { Command } from 'commander';
import { ApiClient } from './api-client.js';
import { collectEdge, resolveCredentials, type ClientOptions } from './credentials.js';

/** Adds the repeatable --edge (edges of one cluster) to a command that talks to the edge. */
export function edgeOption(command: Command, fallback = 'the one you logged in to'): Command {
  return command.option('--edge <url>', `edge URL; repeat for edges of one cluster (or POSTERN_EDGE=URL1,URL2; default: ${fallback})`, collectEdge);
}

/** Adds --edge / --token-file (and --json) to a command that talks to the edge. */
export function clientOptions(command: Command, json = true): Command {
  edgeOption(command);
  command.option('--token-file <file>', 'file holding an API token (or POSTERN_TOKEN; default: your login)');
  if (json) command.option('--json', 'print JSON');
  return command;
}

/** An API client for the edges and token these options resolve to. */
export function apiClient(options: ClientOptions): ApiClient {
  const creds = resolveCredentials(options);
  return new ApiClient(creds.edgeUrls, creds.token);
}
