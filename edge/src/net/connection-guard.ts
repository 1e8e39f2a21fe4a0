import type { Server } from 'node:http';
import type { Socket } from 'node:net';
import type { LimitsConfig } from '../config.js';
import { addressKey } from '../limits/rate-limits.js';
import type { LimitReporter } from '../limits/reporter.js';
import type { ProxyTrust } from './client-address.js';

/**
 * Connection-level limits, before any byte is parsed: at most `maxConnectionsPerAddress` open
 * connections per client address (IPv6 by /64; trusted proxies exempt, they carry everyone), a
 * connection that sent nothing within `firstByteTimeoutMs` closed (Node's header timeout would
 * hold it for 30 s), and `server.maxConnections` below the open-file limit, so a flood is refused
 * by the listener while SQLite, the logs and the metrics listener's /healthz keep their descriptors.
 * Every refusal is counted (postern_edge_limit_refusals_total) and logged once a minute per key.
 */
export class ConnectionGuard {
  private readonly open = new Map<string, number>();

  constructor(
    private readonly limits: Pick<LimitsConfig, 'maxConnectionsPerAddress' | 'firstByteTimeoutMs' | 'maxConnections'>,
    private readonly trust: Pick<ProxyTrust, 'isTrusted'>,
    private readonly reporter: () => LimitReporter,
  ) {}

  attach(server: Server): void {
    server.maxConnections = this.limits.maxConnections;
    server.on('drop', (data?: { remoteAddress?: string }) => {
      const client = data?.remoteAddress ?? '';
      this.reporter().hit('max_connections', 'listener', 'connection refused: the edge holds its maximum of connections', { client, max: this.limits.maxConnections });
    });
    // Runs after Node's own listener: a socket destroyed here never reaches the parser.
    server.on('connection', (socket: Socket) => this.admit(socket));
  }

  /** Connections open now from this address (trusted proxies are not counted). */
  openFrom(address: string): number {
    return this.open.get(addressKey(address)) ?? 0;
  }

  private admit(socket: Socket): void {
    const address = socket.remoteAddress ?? '';
    const key = addressKey(address);
    if (!this.trust.isTrusted(address)) {
      const count = (this.open.get(key) ?? 0) + 1;
      if (count > this.limits.maxConnectionsPerAddress) {
        this.reporter().hit('connections_per_address', key, 'connection refused: too many open connections from one address', {
          client: address,
          max: this.limits.maxConnectionsPerAddress,
        });
        socket.destroy();
        return;
      }
      this.open.set(key, count);
      socket.once('close', () => {
        const left = (this.open.get(key) ?? 1) - 1;
        if (left <= 0) this.open.delete(key);
        else this.open.set(key, left);
      });
    }
    // bytesRead counts at the TCP handle, whoever consumes it (Node's parser, or TLS).
    const timer = setTimeout(() => {
      if (socket.bytesRead > 0 || socket.destroyed) return;
      this.reporter().hit('first_byte_timeout', key, 'connection closed: nothing received in time', { client: address, timeout_ms: this.limits.firstByteTimeoutMs });
      socket.destroy();
    }, this.limits.firstByteTimeoutMs);
    timer.unref();
    socket.once('close', () => clearTimeout(timer));
  }
}
