import type { SocketLimitsBody } from '@postern/edge';
import { formatByteSize, MAX_SOCKET_BODY_BYTES, parseByteSize } from '@postern/edge/client';
import type { Command } from 'commander';
import { CliError } from './errors.js';

/** The per-socket limit flags, shared by `connect`, `socket create` and `socket update`. */
export interface LimitOptions {
  maxBodySize?: string;
  allowCrossOriginRequests?: boolean;
}

export function addLimitOptions(command: Command): Command {
  return command
    .option(
      '--max-body-size <size>',
      "largest request body the app accepts, e.g. 50MiB or 2GB; larger ones get 413 (\"default\": the edge's --max-body-bytes)",
    )
    .option(
      '--allow-cross-origin-requests',
      "let signed-in POST/PUT/PATCH/DELETE from other sites' pages reach the app (off: the edge refuses them as request forgery); only for apps with their own CSRF protection",
    )
    .option('--no-allow-cross-origin-requests', 'refuse signed-in POST/PUT/PATCH/DELETE from other origins again (the default)');
}

/** The API fields for the limit flags given; flags not given are left out (an update keeps them). */
export function limitsBody(opts: LimitOptions): SocketLimitsBody {
  const crossOrigin = opts.allowCrossOriginRequests === undefined ? {} : { allow_cross_origin_requests: opts.allowCrossOriginRequests };
  return { ...bodyLimit(opts.maxBodySize), ...crossOrigin };
}

function bodyLimit(value: string | undefined): SocketLimitsBody {
  if (value === undefined) return {};
  if (value.trim().toLowerCase() === 'default') return { max_body_bytes: null };
  const bytes = parseByteSize(value);
  if (bytes === undefined || bytes < 1 || bytes > MAX_SOCKET_BODY_BYTES) {
    throw new CliError(`--max-body-size must be a size from 1 byte to ${formatByteSize(MAX_SOCKET_BODY_BYTES)} such as 50MiB, 2GB or 1048576 (or "default"), not "${value}"`);
  }
  return { max_body_bytes: bytes };
}

/** A socket's body limit in words (for human output). */
export const describeBodyLimit = (socket: { readonly max_body_bytes: number | null }): string =>
  socket.max_body_bytes === null ? "the edge's default" : formatByteSize(socket.max_body_bytes);
