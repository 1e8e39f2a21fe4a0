import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';

/** How long the edge keeps reading, and dropping, a refused body before it closes anyway. */
const LINGER_MS = 5_000;

const lingering = new WeakSet<Socket>();

/**
 * Makes the answer to `req` the last one on its connection without losing it. Closing a socket
 * with request bytes still unread makes the kernel send a reset, which can destroy the answer
 * before the client reads it (a browser then shows "connection reset", not the 413). So, as
 * nginx's lingering close does, the rest of the body is read and dropped after the answer until
 * the client is done (its body ended or it closed its side), or at most LINGER_MS.
 */
export function closeAfterAnswer(req: IncomingMessage, res: ServerResponse): void {
  res.shouldKeepAlive = false;
  const socket = req.socket;
  if (req.complete || lingering.has(socket)) return;
  lingering.add(socket);
  req.resume();
  // Node ends a response marked last with socket.destroySoon(): close once the client is done instead.
  socket.destroySoon = () => {
    socket.end();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    const done = (): void => {
      clearTimeout(timer);
      socket.destroy();
    };
    if (req.complete) return done();
    req.once('end', done);
    socket.once('end', done);
    socket.once('close', () => clearTimeout(timer));
  };
}
