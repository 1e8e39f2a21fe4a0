import type { Duplex } from 'node:stream';

/**
 * Long-lived connections (upgraded WebSockets, TCP streams) by the credential that opened them (a
 * session hash, or `token:<id>`) and by socket. Sign-out, token revocation and rule changes close
 * them at once; a periodic sweep closes those whose credential expired or was revoked elsewhere.
 */
export class LiveConnections {
  private readonly byCredential = new Map<string, Set<Duplex>>();
  private readonly bySocket = new Map<string, Set<Duplex>>();
  private readonly timer: NodeJS.Timeout;
  private sweeping: Promise<void> | undefined;

  constructor(
    private readonly isLive: (credential: string) => Promise<boolean>,
    sweepEveryMs = 15_000,
    private readonly onSweepFailed: (err: unknown) => void = () => undefined,
  ) {
    this.timer = setInterval(() => void this.sweep(), sweepEveryMs);
    this.timer.unref();
  }

  /**
   * Asks about every credential with an open connection and closes those that ended (the safety net
   * under the change feed, which closes them at once). One sweep at a time; a failed lookup keeps
   * its connections until the next.
   */
  sweep(): Promise<void> {
    this.sweeping ??= (async () => {
      for (const credential of [...this.byCredential.keys()]) {
        if (!(await this.isLive(credential))) this.close([credential]);
      }
    })()
      .catch((err: unknown) => this.onSweepFailed(err))
      .finally(() => (this.sweeping = undefined));
    return this.sweeping;
  }

  add(credential: string, socketId: string, connection: Duplex): void {
    const sets = [entry(this.byCredential, credential), entry(this.bySocket, socketId)];
    for (const set of sets) set.add(connection);
    connection.once('close', () => {
      for (const set of sets) set.delete(connection);
      prune(this.byCredential, credential);
      prune(this.bySocket, socketId);
    });
  }

  /** Closes every connection opened with these credentials. */
  close(credentials: readonly string[]): void {
    for (const credential of credentials) {
      const set = this.byCredential.get(credential);
      this.byCredential.delete(credential);
      if (set) for (const connection of set) connection.destroy();
    }
  }

  /** Closes every connection to a socket (its rules changed, or it was deleted): clients reconnect and are checked again. */
  closeSocket(socketId: string): void {
    for (const connection of this.bySocket.get(socketId) ?? []) connection.destroy();
  }

  /** The open connections of one credential (its holder's identity changed: they are decided again). */
  connectionsOf(credential: string): readonly Duplex[] {
    return [...(this.byCredential.get(credential) ?? [])];
  }

  get size(): number {
    let n = 0;
    for (const set of this.byCredential.values()) n += set.size;
    return n;
  }

  stop(): void {
    clearInterval(this.timer);
  }
}

function entry(map: Map<string, Set<Duplex>>, key: string): Set<Duplex> {
  let set = map.get(key);
  if (!set) map.set(key, (set = new Set()));
  return set;
}

function prune(map: Map<string, Set<Duplex>>, key: string): void {
  if (map.get(key)?.size === 0) map.delete(key);
}
