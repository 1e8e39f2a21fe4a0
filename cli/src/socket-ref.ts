import type { ApiClient, SocketInfo } from './api-client.js';
import { CliError } from './errors.js';

/**
 * One of your sockets by id (`sck_…`), name (`grafana`), DNS label (`grafana-x1y2`) or host name
 * (`grafana-x1y2.edge.example.com`, also as a URL).
 */
export async function findSocket(api: ApiClient, ref: string): Promise<SocketInfo> {
  const wanted = ref.trim().toLowerCase();
  if (/^sck_[a-z0-9]+$/.test(wanted)) return api.getSocket(wanted);
  const host = wanted.replace(/^[a-z]+:\/\//, '').replace(/[:/].*$/, '');
  const sockets = await api.listSockets();
  const matches = sockets.filter((s) => s.hostname === host || s.hostname.split('.')[0] === host || s.name.trim().toLowerCase() === wanted);
  if (matches.length === 1) return matches[0]!;
  if (matches.length === 0) throw new CliError(`you have no socket "${ref}" (postern socket ls lists them; give an id, name or host name)`);
  throw new CliError(`"${ref}" names ${matches.length} sockets (${matches.map((s) => `${s.id} ${s.hostname}`).join(', ')}): give its id`);
}
