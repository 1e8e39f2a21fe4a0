import type http from 'node:http';
import type { Socket } from 'node:net';
import type { WebSocketServer } from 'ws';

/** Listens on 127.0.0.1 on a free port; resolves with the port. */
export async function listenLocal(server: http.Server): Promise<number> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  return typeof address === 'object' && address ? address.port : 0;
}

/**
 * Tracks every connection of a test app so closing it never waits on a keep-alive or WebSocket
 * the edge still holds. Returns the close function.
 */
export function closer(server: http.Server, wss?: WebSocketServer): () => Promise<void> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return async () => {
    for (const client of wss?.clients ?? []) client.terminate();
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
}

/** Serves every request with `handle`; a handler that throws answers 500 naming the failure (a mock's bug, visible in the test). */
export function onRequests(server: http.Server, handle: (req: http.IncomingMessage, res: http.ServerResponse) => Promise<void>): void {
  server.on('request', (req: http.IncomingMessage, res: http.ServerResponse) => {
    handle(req, res).catch((err: Error) => {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`mock failure: ${err.message}`);
    });
  });
}

/** A JSON answer with its length, as the real APIs send it. */
export function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
