import { Option, type Command } from 'commander';
import type { EdgeConfigInput } from '@postern/edge';
import { EDGE_SETTING_ROWS } from '@postern/edge/client';
import { loadEdge } from '../load-edge.js';
import { out } from '../output.js';
import { onShutdown } from '../signals.js';
import { collect, registerIssuerOptions, withDefault } from './edge-identity.js';

/**
 * `postern edge`'s settings options: one per row of the edge's settings table
 * (@postern/edge/client), a switch and its `--no-` form for true/false rows, the per-issuer OIDC
 * options before the identity rows. Returns what reads the parsed options into the edge's input.
 */
export function registerEdgeSettings(command: Command): (opts: Readonly<Record<string, unknown>>) => EdgeConfigInput {
  const attributes: [key: string, attribute: string][] = [];
  let issuers: ReturnType<typeof registerIssuerOptions> | undefined;
  for (const row of EDGE_SETTING_ROWS) {
    if (row.group === 'identity') issuers ??= registerIssuerOptions(command);
    const option = new Option(row.value.metavar ? `${row.flag} ${row.value.metavar}` : row.flag, `${withDefault(row)}${row.repeatable ? ' (repeatable)' : ''}`);
    if (row.repeatable) option.argParser(collect);
    command.addOption(option);
    if (!row.value.metavar) command.addOption(new Option(`--no-${row.flag.slice(2)}`, `turn ${row.flag} off`));
    attributes.push([row.key, option.attributeName()]);
  }
  return (opts) => ({ ...Object.fromEntries(attributes.map(([key, attribute]) => [key, opts[attribute]])), oidc: issuers!(opts) }) as EdgeConfigInput;
}

export function registerEdge(program: Command): void {
  const command = program
    .command('edge')
    .description('run the edge: accepts connectors and serves their sockets (logs JSON to stdout)')
    .option('--config <file>', 'YAML config file (flags and POSTERN_* env win over it)');
  const settingsOf = registerEdgeSettings(command);
  command
    .option('--print-config', 'print the effective configuration (file, env and flags merged) as a config file, and exit')
    .action(async (opts: Readonly<Record<string, unknown>>) => {
      const { edgeConfigFromEnv, edgeConfigFromFile, printConfig, resolveEdgeConfig, startEdge } = await loadEdge('edge');
      const file = typeof opts.config === 'string' ? edgeConfigFromFile(opts.config) : {};
      const config = resolveEdgeConfig(settingsOf(opts), edgeConfigFromEnv(process.env), file);
      if (opts.printConfig) return out.raw(printConfig(config));
      const edge = await startEdge(config);
      // certbot/ACME deploy hooks send SIGHUP after a renewal (Node's default would end the process).
      process.on('SIGHUP', () => edge.reloadTls());
      await onShutdown(() => edge.close(config.shutdownGraceMs), { hangup: false });
    });
}
