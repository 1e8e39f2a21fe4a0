import { randomBytes, randomUUID } from 'node:crypto';
import { Connector } from '@postern/connector';
import type { Command } from 'commander';
import { ApiClient, ApiError, type SocketInfo } from '../api-client.js';
import { startDemoApp } from '../demo-app.js';
import { CliError } from '../errors.js';
import { loadEdge } from '../load-edge.js';
import { out } from '../output.js';
import { parseIntInRange } from '../parse.js';
import { onShutdown } from '../signals.js';

const DEMO_EMAIL = 'demo@example.com';
const DEMO_SOCKET = 'hello';

interface DemoOptions {
  port: string;
  db: string;
  json?: boolean;
}

/** The demo's socket: created on the first run, found again on the next ones (its hostname is stable). */
async function demoSocket(api: ApiClient): Promise<SocketInfo> {
  try {
    return await api.createSocket({ name: DEMO_SOCKET, cloudauth: true });
  } catch (err) {
    if (!(err instanceof ApiError && err.code === 'SOCKET_NAME_TAKEN')) throw err;
    const existing = (await api.listSockets()).find((s) => s.name === DEMO_SOCKET);
    if (!existing) throw err;
    return existing;
  }
}

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('try Postern in one command: an edge on localhost with local accounts, a sample app, and a connector')
    .option('--port <port>', 'port of the edge on 127.0.0.1', '8080')
    .option('--db <file>', 'SQLite database of the demo edge', './postern-demo.db')
    .option('--json', 'print one JSON line when ready (url, portal, email, password)')
    .action(async (opts: DemoOptions) => {
      const port = parseIntInRange(opts.port, 1, 65535, '--port');
      const { addUser, createToken, resolveEdgeConfig, setPassword, startEdge, withStore } = await loadEdge('demo');
      const password = randomBytes(12).toString('base64url');
      const { token } = await withStore(opts.db, async (store) => {
        addUser(store, DEMO_EMAIL);
        await setPassword(store, DEMO_EMAIL, password);
        return createToken(store, DEMO_EMAIL, 'postern demo');
      });

      const config = resolveEdgeConfig({ listen: `127.0.0.1:${port}`, db: opts.db, logLevel: 'warn' });
      const edge = await startEdge(config).catch((err: NodeJS.ErrnoException) => {
        throw new CliError(err.code === 'EADDRINUSE' ? `port ${port} is in use: run "postern demo --port 8081"` : err.message);
      });
      const app = await startDemoApp();
      const api = new ApiClient(edge.url, token);
      const socket = await demoSocket(api);
      const connector = new Connector({
        edgeUrls: [edge.url],
        token,
        socketId: socket.id,
        target: { host: '127.0.0.1', port: app.port },
        connections: 2,
        graceMs: 2000,
        connectorId: randomUUID(),
      });
      const ready = new Promise<void>((resolve) => connector.once('ready', () => resolve()));
      const fatal = new Promise<never>((_, reject) => connector.once('fatal', (err) => reject(new CliError(err.message))));
      connector.start();
      await Promise.race([ready, fatal]);

      if (opts.json) out.json({ event: 'ready', url: socket.url, portal: edge.url, email: DEMO_EMAIL, password });
      else {
        out.success('the Postern demo is running');
        out.line(`  app     ${out.highlight(socket.url)}  (sign-in required; it shows who Postern says you are)`);
        out.line(`  portal  ${edge.url}`);
        out.line(`  sign in ${DEMO_EMAIL} / ${password}`);
        out.line(`  CLI     postern login --edge ${edge.url}   (then: postern socket ls, postern connect --port 3000 --cloudauth)`);
        out.info(`data in ${opts.db}; the password is new at every start. Press Ctrl-C to stop.`);
      }
      await onShutdown(async () => {
        await connector.stop(2000);
        await api.revokeToken('current').catch(() => undefined);
        app.server.close();
        await edge.close(2000);
      });
      process.exit(0);
    });
}
