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
export function closer(server: http.Server, wss: WebSocketServer): () => Promise<void> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  return async () => {
    for (const client of wss.clients) client.terminate();
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
}
