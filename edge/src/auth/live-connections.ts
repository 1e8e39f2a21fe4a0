import type { Duplex } from 'node:stream';

/**
 * Long-lived connections (upgraded WebSockets) by the session that opened them. Sign-out closes them
 * at once; a periodic sweep closes those whose session expired or was revoked elsewhere.
 */
export class LiveConnections {
  private readonly bySession = new Map<string, Set<Duplex>>();
  private readonly timer: NodeJS.Timeout;

  constructor(isLive: (idHash: string) => boolean, sweepEveryMs = 15_000) {
    this.timer = setInterval(() => {
      for (const idHash of this.bySession.keys()) if (!isLive(idHash)) this.close([idHash]);
    }, sweepEveryMs);
    this.timer.unref();
  }

  add(idHash: string, socket: Duplex): void {
    let set = this.bySession.get(idHash);
    if (!set) this.bySession.set(idHash, (set = new Set()));
    set.add(socket);
    socket.once('close', () => {
      set.delete(socket);
      if (set.size === 0 && this.bySession.get(idHash) === set) this.bySession.delete(idHash);
    });
  }

  close(idHashes: readonly string[]): void {
    for (const idHash of idHashes) {
      const set = this.bySession.get(idHash);
      this.bySession.delete(idHash);
      if (set) for (const socket of set) socket.destroy();
    }
  }

  get size(): number {
    let n = 0;
    for (const set of this.bySession.values()) n += set.size;
    return n;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}
