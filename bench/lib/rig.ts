/**
 * One edge and two connectors serving the same permanent socket, as real processes started with the
 * CLI, with restarts of either side: the setup of the soak and of the bench's restart phases.
 */
import { sleep, freePort, type Proc } from './procs.js';
import { createAccount, posternClient, startConnector, startEdge, type Origin } from './targets.js';
import type { Endpoint } from './transfer.js';
import { getText } from './transfer.js';

export interface RigOptions {
  readonly tag: string;
  /** Tunnel connections per connector. */
  readonly connections: number;
  /** The connectors' --grace (how long a SIGTERM drain may take). */
  readonly graceSeconds: number;
}

/** A tunnel connection of a connector coming up, as the connector printed it. */
interface UpEvent {
  readonly connector: number;
  readonly slot: number;
  readonly at: number;
}

export interface ConnectorRestart {
  readonly connector: number;
  readonly signal: 'SIGTERM' | 'SIGKILL';
  /** From the signal until the process exited (the drain, for SIGTERM). */
  readonly stopMs: number;
  /** From starting the new process until it printed "ready". */
  readonly readyMs: number;
}

export interface EdgeRestart {
  /** From SIGTERM until the old edge exited. */
  readonly stopMs: number;
  /** From spawning the new edge until its port accepted connections. */
  readonly startMs: number;
  /** From the new edge listening until GET through the socket answered 200. */
  readonly servingMs: number;
  /** From the new edge listening until every tunnel connection of both connectors was up again. */
  readonly allUpMs: number | undefined;
}

export class Rig {
  private readonly upEvents: UpEvent[] = [];
  private readonly generations: number[] = [];
  /** performance.now() when each connector's current process was started. */
  private readonly startedAt: number[] = [];
  private edgeGeneration = 1;

  private constructor(
    private readonly root: string,
    private readonly dir: string,
    private readonly origin: Origin,
    private readonly opts: RigOptions,
    readonly port: number,
    private readonly db: string,
    private readonly token: string,
    private readonly socketId: string,
    readonly host: string,
    public edge: Proc,
    readonly connectors: Proc[],
  ) {}

  static async start(root: string, dir: string, origin: Origin, opts: RigOptions): Promise<Rig> {
    const port = await freePort();
    const { db, token } = await createAccount(root, dir, opts.tag);
    const edge = await startEdge(root, dir, { name: `edge-${opts.tag}`, port, db });
    const created = JSON.parse(await posternClient(root, port, token, ['socket', 'create', '--name', opts.tag, '--json'])) as { id: string; url: string };
    const rig = new Rig(root, dir, origin, opts, port, db, token, created.id, new URL(created.url).host, edge, []);
    for (let i = 0; i < 2; i++) {
      rig.generations.push(0);
      rig.startedAt.push(0);
      rig.connectors.push(await rig.startConnector(i));
    }
    return rig;
  }

  get endpoint(): Endpoint {
    return { port: this.port, host: this.host };
  }

  /** Every process of the rig, by role, for RSS and CPU readings. */
  processes(): Map<string, Proc> {
    return new Map([
      ['edge', this.edge],
      ['connector A', this.connectors[0]!],
      ['connector B', this.connectors[1]!],
    ]);
  }

  private async startConnector(i: number): Promise<Proc> {
    const generation = ++this.generations[i]!;
    this.startedAt[i] = performance.now();
    const { proc } = await startConnector(this.root, this.dir, {
      name: `connector-${this.opts.tag}-${'AB'[i]}${generation > 1 ? `-${generation}` : ''}`,
      edgePort: this.port,
      token: this.token,
      appPort: this.origin.port,
      serve: ['--socket', this.socketId],
      connections: this.opts.connections,
      extraArgs: ['--grace', `${this.opts.graceSeconds}s`],
      onLine: (line) => {
        if (!line.startsWith('{"event":"connection"')) return;
        try {
          const msg = JSON.parse(line) as { state?: string; slot?: number };
          if (msg.state === 'up' && typeof msg.slot === 'number') this.upEvents.push({ connector: i, slot: msg.slot, at: performance.now() });
        } catch {
          /* not ours */
        }
      },
    });
    return proc;
  }

  /** Stops connector `i` with `signal` (SIGTERM: a drain of up to --grace), then starts it again. */
  async restartConnector(i: number, signal: 'SIGTERM' | 'SIGKILL'): Promise<ConnectorRestart> {
    const t0 = performance.now();
    await this.connectors[i]!.stop(signal === 'SIGTERM' ? this.opts.graceSeconds * 1000 + 10_000 : 0, signal);
    const t1 = performance.now();
    this.connectors[i] = await this.startConnector(i);
    return { connector: i, signal, stopMs: t1 - t0, readyMs: performance.now() - t1 };
  }

  /**
   * SIGTERM to the edge, then a new edge on the same port and database. The socket and tunnel
   * records live in SQLite, so the connectors only have to dial again.
   */
  async restartEdge(timeoutMs: number): Promise<EdgeRestart> {
    const t0 = performance.now();
    await this.edge.stop(15_000);
    const t1 = performance.now();
    this.edge = await startEdge(this.root, this.dir, { name: `edge-${this.opts.tag}-${++this.edgeGeneration}`, port: this.port, db: this.db });
    const listening = performance.now();
    const deadline = listening + timeoutMs;
    let servingAt: number | undefined;
    let probe = 0;
    while (servingAt === undefined && performance.now() < deadline) {
      try {
        const res = await getText(this.endpoint, `/small?id=probe-${probe++}`, 1000);
        if (res.status === 200) servingAt = performance.now();
      } catch {
        /* not yet */
      }
      if (servingAt === undefined) await sleep(20);
    }
    if (servingAt === undefined) throw new Error(`the socket did not answer 200 within ${timeoutMs} ms of the new edge listening\n${this.edge.lastLines()}`);
    const allUpAt = await this.allTunnelsUpSince(listening, Math.max(0, deadline - performance.now()));
    return { stopMs: t1 - t0, startMs: listening - t1, servingMs: servingAt - listening, allUpMs: allUpAt === undefined ? undefined : allUpAt - listening };
  }

  /**
   * When every slot of both connectors' current processes had printed "up" after `since`
   * (performance.now()); undefined on timeout.
   */
  private async allTunnelsUpSince(since: number, timeoutMs: number): Promise<number | undefined> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const firstUp = new Map<string, number>();
      for (const e of this.upEvents) {
        if (e.at < since || e.at < this.startedAt[e.connector]!) continue;
        const key = `${e.connector}/${e.slot}`;
        if (!firstUp.has(key)) firstUp.set(key, e.at);
      }
      if (firstUp.size >= 2 * this.opts.connections) return Math.max(...firstUp.values());
      if (performance.now() > deadline) return undefined;
      await sleep(20);
    }
  }

  /** Waits until every tunnel connection of both connectors' current processes is up. */
  async settle(timeoutMs: number): Promise<boolean> {
    return (await this.allTunnelsUpSince(0, timeoutMs)) !== undefined;
  }

  async stop(): Promise<void> {
    for (const c of this.connectors) await c.stop(5000);
    await this.edge.stop(5000);
  }
}
