/** Many idle WebSockets to /ws through one endpoint, opened with bounded concurrency. */
import WebSocket from 'ws';
import type { Endpoint } from './transfer.js';

export interface OpenResult {
  readonly sockets: WebSocket[];
  readonly opened: number;
  readonly failed: number;
  readonly firstError: string | undefined;
  readonly seconds: number;
}

function openOne(ep: Endpoint, timeoutMs: number): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${ep.port}/ws`, {
      headers: { host: ep.host ?? `127.0.0.1:${ep.port}` },
      perMessageDeflate: false,
      handshakeTimeout: timeoutMs,
    });
    const onError = (err: Error): void => {
      ws.terminate();
      reject(err);
    };
    ws.once('error', onError);
    ws.once('unexpected-response', (_req, res) => {
      ws.terminate();
      reject(new Error(`HTTP ${res.statusCode} instead of 101`));
    });
    ws.once('open', () => {
      ws.off('error', onError);
      ws.on('error', () => undefined);
      resolve(ws);
    });
  });
}

export async function openMany(ep: Endpoint, count: number, concurrency: number, deadlineMs: number): Promise<OpenResult> {
  const started = performance.now();
  const sockets: WebSocket[] = [];
  let next = 0;
  let failed = 0;
  let firstError: string | undefined;
  const worker = async (): Promise<void> => {
    while (next < count && performance.now() - started < deadlineMs) {
      next++;
      try {
        sockets.push(await openOne(ep, 20_000));
      } catch (err) {
        failed++;
        firstError ??= (err as Error).message;
        if (failed > 50 && failed > sockets.length / 10) return; // something is broken: stop hammering
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return { sockets, opened: sockets.length, failed, firstError, seconds: (performance.now() - started) / 1000 };
}

/** Sockets that are still open (the others were closed by a peer while idle). */
export const stillOpen = (sockets: readonly WebSocket[]): number => sockets.filter((ws) => ws.readyState === WebSocket.OPEN).length;

export async function closeAll(sockets: readonly WebSocket[], timeoutMs = 10_000): Promise<void> {
  const closed = sockets.map(
    (ws) =>
      new Promise<void>((resolve) => {
        if (ws.readyState === WebSocket.CLOSED) return resolve();
        ws.once('close', () => resolve());
        ws.terminate();
      }),
  );
  await Promise.race([Promise.all(closed), new Promise((resolve) => setTimeout(resolve, timeoutMs))]);
}
