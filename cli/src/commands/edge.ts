import type { Command } from 'commander';
import { edgeConfigFromEnv, resolveEdgeConfig, startEdge } from '@postern/edge';
import { onShutdown } from '../signals.js';

export function registerEdge(program: Command): void {
  program
    .command('edge')
    .description('run the edge: accepts connectors and serves their sockets (logs JSON to stdout)')
    .option('--listen <host:port>', 'address to listen on (default 127.0.0.1:8080)')
    .option('--domain <domain>', 'name browsers use for the edge; sockets are <name>.<domain> (default localhost:<port>)')
    .option('--db <file>', 'SQLite database file (default ./postern.db)')
    .option('--public-scheme <http|https>', 'scheme browsers use (https when TLS ends in front of the edge)')
    .option('--upstream-timeout <duration>', 'time the app has to answer before a 504 (default 60s)')
    .option('--max-header-bytes <n>', 'request headers above this get 431 (default 16384)')
    .option('--log-level <level>', 'fatal, error, warn, info, debug, trace or silent (default info)')
    .action(async (opts: Record<string, string | undefined>) => {
      const config = resolveEdgeConfig(
        {
          listen: opts.listen,
          domain: opts.domain,
          db: opts.db,
          publicScheme: opts.publicScheme,
          upstreamTimeout: opts.upstreamTimeout,
          maxHeaderBytes: opts.maxHeaderBytes,
          logLevel: opts.logLevel,
        },
        edgeConfigFromEnv(process.env),
      );
      const edge = await startEdge(config);
      await onShutdown(() => edge.close());
    });
}
