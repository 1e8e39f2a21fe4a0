import { createServer, connect, type Server, type Socket } from 'node:net';

/** One client connection and the connection the relay made for it to the target. */
interface Pair {
  /** 1 for the first connection accepted, and so on. */
  readonly id: number;
  readonly client: Socket;
  readonly upstream: Socket;
  blackholed: boolean;
}

/**
 * A TCP relay on 127.0.0.1 for fault tests: it forwards every connection to a target port, byte for
 * byte with backpressure, and passes FIN and RST on. It stands for the network between a connector
 * and an edge (or for a load balancer in front of edges: `retarget` sends new connections elsewhere).
 *
 * `blackhole()` makes the path of open connections go dead the way a failed route or a lost NAT entry
 * does: from then on nothing is forwarded either way and neither FIN nor RST ever reaches a peer,
 * whatever happens; the bytes are read and dropped. Connections accepted afterwards are forwarded
 * normally, so a peer that notices and dials again gets through.
 */
export class TcpRelay {
  private readonly pairs = new Set<Pair>();
  /** Every connection accepted so far. */
  accepted = 0;

  private constructor(
    private readonly server: Server,
    readonly port: number,
    private targetPort: number,
  ) {
    server.on('connection', (client) => this.relay(client));
  }

  static async start(targetPort: number): Promise<TcpRelay> {
    const server = createServer({ allowHalfOpen: true, noDelay: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : 0;
    return new TcpRelay(server, port, targetPort);
  }

  /** Connections accepted from now on go to `port`; open ones stay where they are. */
  retarget(port: number): void {
    this.targetPort = port;
  }

  /** Ids of the connections forwarded now (open, not blackholed). */
  forwarding(): number[] {
    return [...this.pairs].filter((p) => !p.blackholed).map((p) => p.id);
  }

  /** Kills the path of open connections (those with the given ids, or all) silently; returns how many. */
  blackhole(ids?: readonly number[]): number {
    let count = 0;
    for (const pair of this.pairs) {
      if (pair.blackholed || (ids && !ids.includes(pair.id))) continue;
      pair.blackholed = true;
      count++;
      for (const [from, to] of [
        [pair.client, pair.upstream],
        [pair.upstream, pair.client],
      ] as const) {
        from.unpipe(to);
        from.on('data', () => undefined); // keep reading so nothing pushes back; drop it all
        from.resume();
      }
    }
    return count;
  }

  /** Stops listening and cuts every connection, blackholed ones included. */
  async close(): Promise<void> {
    for (const pair of this.pairs) {
      pair.client.destroy();
      pair.upstream.destroy();
    }
    this.pairs.clear();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private relay(client: Socket): void {
    this.accepted++;
    client.pause();
    const upstream = connect({ host: '127.0.0.1', port: this.targetPort, allowHalfOpen: true, noDelay: true });
    const pair: Pair = { id: this.accepted, client, upstream, blackholed: false };
    this.pairs.add(pair);
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      from.pipe(to, { end: false });
      from.on('end', () => {
        if (!pair.blackholed) to.end();
      });
      from.on('error', () => {
        // A reset on one side becomes a reset on the other, unless the path is dead.
        if (!pair.blackholed) to.resetAndDestroy();
      });
      from.on('close', () => {
        if (!pair.blackholed) to.end();
        if (client.destroyed && upstream.destroyed) this.pairs.delete(pair);
      });
    }
    upstream.once('connect', () => client.resume());
  }
}
