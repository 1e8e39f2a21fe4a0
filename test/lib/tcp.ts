import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { CLI, cleanEnv } from './postern.js';
import { withTimeout } from './wait.js';

export const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

/** A local TCP app that echoes every byte and ends its side when the client ends its own. */
export async function startEchoServer(): Promise<{ port: number; close: () => Promise<void> }> {
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    socket.pipe(socket);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  const close = async () => {
    for (const socket of sockets) socket.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return { port, close };
}

/** Connects to 127.0.0.1:PORT, sends `data`, half-closes and returns everything received until the peer ended. */
export function roundTrip(port: number, data: Buffer, timeoutMs = 20_000): Promise<Buffer> {
  let socket: Socket | undefined;
  const done = new Promise<Buffer>((resolve, reject) => {
    socket = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const chunks: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    socket.once('end', () => resolve(Buffer.concat(chunks)));
    socket.once('close', () => reject(new Error(`the connection closed before the peer ended it (${Buffer.concat(chunks).length} bytes received)`)));
    socket.once('error', reject);
    socket.end(data);
  });
  return withTimeout(done, timeoutMs, `an echo round trip of ${data.length} bytes`).finally(() => socket?.destroy());
}

/** An open connection to 127.0.0.1:PORT (from `localAddress` if given) with what it received so far and a promise of its close. */
export async function openConnection(port: number, timeoutMs = 10_000, localAddress?: string): Promise<{ socket: Socket; received: Buffer[]; closed: Promise<void> }> {
  const socket = connect({ host: '127.0.0.1', port, ...(localAddress ? { localAddress } : {}) });
  const received: Buffer[] = [];
  socket.on('data', (chunk: Buffer) => received.push(chunk));
  socket.on('error', () => undefined); // a reset shows as the close the tests wait for
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await withTimeout(new Promise((resolve) => socket.once('connect', resolve)), timeoutMs, `a connection to port ${port}`);
  return { socket, received, closed };
}

export interface StdioResult {
  readonly code: number | null;
  readonly stdout: Buffer;
  readonly stderr: string;
}

/** Runs `postern tcp … --stdio`, writing `input` to its stdin then closing it; bounded. */
export function runStdio(args: readonly string[], env: Record<string, string>, input: Buffer, timeoutMs = 20_000): Promise<StdioResult> {
  const child = spawn(process.execPath, [CLI, 'tcp', ...args, '--stdio'], { env: cleanEnv(env), stdio: ['pipe', 'pipe', 'pipe'] });
  const stdout: Buffer[] = [];
  let stderr = '';
  child.stdout.on('data', (chunk: Buffer) => stdout.push(chunk));
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  child.stdin.on('error', () => undefined); // a CLI that refused at once closes its stdin early
  child.stdin.end(input);
  const exited = new Promise<StdioResult>((resolve) => {
    child.once('close', (code) => resolve({ code, stdout: Buffer.concat(stdout), stderr }));
  });
  return withTimeout(exited, timeoutMs, `postern tcp --stdio to exit\n${stderr}`).catch((err: unknown) => {
    child.kill('SIGKILL');
    throw err;
  });
}
