import type { TunnelView } from '@postern/edge';
import type { Command } from 'commander';
import { apiClient, clientOptions } from '../client-command.js';
import type { ClientOptions } from '../credentials.js';
import { out } from '../output.js';
import { requireOption } from '../required-option.js';
import { table } from '../table.js';

type Opts = ClientOptions & { json?: boolean };

const status = (t: TunnelView) => (t.status === 'connected' ? out.good('connected') : out.dim('offline'));
/** The edges holding the tunnel's connections (several edges on PostgreSQL); older edges list none. */
const edges = (t: TunnelView) => [...new Set((t.live_connections ?? []).map((c) => c.edge_url || c.edge_id))].join(',') || '-';

export function registerTunnel(program: Command): void {
  const tunnel = program.command('tunnel').description('tunnels: what a connector attaches to, to serve a socket');

  clientOptions(
    requireOption(tunnel.command('create').description('create a tunnel for a socket'), '--socket <id>', 'the socket this tunnel serves', '--socket sck_… from "postern socket ls"')
      .option('--name <name>', 'a label, e.g. the machine that will run the connector'),
  ).action(async (opts: Opts & { socket: string; name?: string }) => {
    const created = await apiClient(opts).createTunnel({ socket_id: opts.socket, ...(opts.name ? { name: opts.name } : {}) });
    if (opts.json) return out.json(created);
    out.success(`tunnel ${created.id} created for socket ${created.socket_id}`);
    out.info(`connect it with: postern connect --socket ${created.socket_id} --tunnel ${created.id} --port <port>`);
  });

  clientOptions(tunnel.command('ls').description('list your tunnels with their status').option('--socket <id>', 'only the tunnels of this socket')).action(
    async (opts: Opts & { socket?: string }) => {
      const tunnels = await apiClient(opts).listTunnels(opts.socket);
      if (opts.json) return out.json(tunnels);
      if (tunnels.length === 0) return out.info('no tunnels yet: postern tunnel create --socket <id>');
      out.line(
        table(['ID', 'SOCKET', 'NAME', 'STATUS', 'EDGES', 'LAST CONNECTED'], tunnels.map((t) => [t.id, t.socket_id, t.name || '-', status(t), edges(t), t.last_connected_at ?? 'never'])),
      );
    },
  );

  clientOptions(tunnel.command('delete <id>').description('delete a tunnel; its connectors are disconnected')).action(async (id: string, opts: Opts) => {
    await apiClient(opts).deleteTunnel(id);
    if (opts.json) return out.json({ id, deleted: true });
    out.success(`tunnel ${id} deleted`);
  });
}
