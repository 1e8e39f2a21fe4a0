import { connect } from 'node:net';
import { join } from 'node:path';
import { freePort, REPO_ROOT } from './postern.js';
import { ManagedProcess } from './process.js';
import { pollUntil } from './wait.js';

/**
 * `python3 -m http.server` serving `dir` on 127.0.0.1: the README's example app. An HTTP/1.0
 * server: every answer ends by closing the connection. python3 must be installed (.ci/run does).
 */
export class PythonServer {
  private constructor(
    readonly proc: ManagedProcess,
    readonly port: number,
  ) {}

  /** `withWebSocket`: test/fixtures/ws_echo_server.py instead, which also echoes WebSocket messages. */
  static async start(dir: string, withWebSocket = false): Promise<PythonServer> {
    let lastError: unknown;
    for (let attempt = 0; attempt < 3; attempt++) {
      const port = await freePort();
      const args = withWebSocket
        ? [join(REPO_ROOT, 'test', 'fixtures', 'ws_echo_server.py'), '--port', String(port), '--directory', dir]
        : ['-m', 'http.server', String(port), '--bind', '127.0.0.1', '--directory', dir];
      const proc = new ManagedProcess(`python-http:${port}`, 'python3', args, {
        ...process.env,
        PYTHONUNBUFFERED: '1',
      });
      try {
        await pollUntil(
          async () => {
            if (!proc.running) throw new Error(`python3 -m http.server exited (${proc.exitInfo?.code})\n${proc.output()}`);
            return (await accepts(port)) ? true : undefined;
          },
          { timeoutMs: 10_000, intervalMs: 50, what: `python3 -m http.server on port ${port}` },
        );
        return new PythonServer(proc, port);
      } catch (err) {
        lastError = err;
        await proc.stop('SIGKILL', 5_000).catch(() => undefined);
      }
    }
    throw lastError;
  }

  stop(): Promise<unknown> {
    return this.proc.stop('SIGTERM', 5_000);
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}
