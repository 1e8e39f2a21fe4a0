import { connect, type Socket } from 'node:net';
import { withTimeout } from './wait.js';

export interface RawExchange {
  /** Everything the server sent, as latin1 text. */
  readonly text: string;
  /** Status codes of the responses found in `text`, in order. */
  readonly statuses: number[];
  /** The server closed the connection (rather than the exchange going quiet for `idleMs`). */
  readonly closedByServer: boolean;
}

/**
 * Writes `bytes` verbatim on a fresh TCP connection (chunks in order, `gapMs` apart) and reads until
 * the server closes or stays silent for `idleMs`. For pipelined and malformed requests that no HTTP
 * client would send; a response is counted by its status line at the start of the stream or after
 * a blank line.
 */
export function rawExchange(port: number, bytes: string | Buffer | readonly (string | Buffer)[], options: { idleMs?: number; timeoutMs?: number; gapMs?: number } = {}): Promise<RawExchange> {
  const idleMs = options.idleMs ?? 600;
  let socket: Socket | undefined;
  const done = new Promise<RawExchange>((resolve, reject) => {
    socket = connect({ host: '127.0.0.1', port });
    const chunks: Buffer[] = [];
    let idle: NodeJS.Timeout | undefined;
    let settled = false;
    const finish = (closedByServer: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(idle);
      const text = Buffer.concat(chunks).toString('latin1');
      const statuses = [...text.matchAll(/(?:^|\r\n\r\n|\n\n)HTTP\/1\.[01] (\d{3})/g)].map((m) => Number(m[1]));
      resolve({ text, statuses, closedByServer });
      socket?.destroy();
    };
    const rearm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => finish(false), idleMs);
    };
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      rearm();
    });
    socket.on('end', () => finish(true));
    socket.on('close', () => finish(true));
    socket.on('error', (err: NodeJS.ErrnoException) => (chunks.length > 0 || err.code === 'ECONNRESET' ? finish(true) : reject(err)));
    socket.once('connect', async () => {
      const parts = typeof bytes === 'string' || Buffer.isBuffer(bytes) ? [bytes] : bytes;
      for (const [i, part] of parts.entries()) {
        if (i > 0 && options.gapMs) await new Promise((r) => setTimeout(r, options.gapMs));
        if (!socket!.destroyed) socket!.write(part);
      }
      rearm();
    });
  });
  return withTimeout(done, options.timeoutMs ?? 15_000, 'a raw exchange').finally(() => socket?.destroy());
}
