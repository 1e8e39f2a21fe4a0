import { once } from 'node:events';
import { createServer, isIP, type AddressInfo, type Socket } from 'node:net';
import { TcpCloseCode, TcpStreamError, type WebSocketByteStream } from '@postern/shared';
import type { Command } from 'commander';
import { ApiError } from '../api-client.js';
import { clientOptions } from '../client-command.js';
import { resolveCredentials, type ClientOptions } from '../credentials.js';
import { CliError } from '../errors.js';
import { out } from '../output.js';
import { parseListenAddress } from '../parse.js';
import { requireOption } from '../required-option.js';
import { onShutdown } from '../signals.js';
import { TcpClient, type TcpTarget } from '../tcp-client.js';

interface TcpOptions extends ClientOptions {
  socket: string;
  listen?: string;
  stdio?: boolean;
  json?: boolean;
}

export function registerTcp(program: Command): void {
  const command = requireOption(
    program
      .command('tcp')
      .description('reach a TCP socket (SSH, PostgreSQL, Redis…) as yourself: a local port, or stdin/stdout for ssh ProxyCommand'),
    '--socket <name>',
    'the socket: its host name, label or id',
    '--socket ssh-k2jkq8.edge.example.com',
  )
    .option('--listen <[host:]port>', 'accept local connections here (host defaults to 127.0.0.1); each one is a stream to the app')
    .option('--stdio', 'carry one stream over stdin/stdout (ssh -o ProxyCommand="postern tcp --socket %h --stdio")')
    .option('--json', 'with --listen, print JSON lines (first: {"event":"listening","address":...})');
  clientOptions(command, false).action(async (opts: TcpOptions) => {
    if (Boolean(opts.listen) === Boolean(opts.stdio)) throw new CliError('pass exactly one of --listen [host:]port or --stdio');
    if (!/^[A-Za-z0-9._:-]{1,253}$/.test(opts.socket)) throw new CliError(`--socket must be a socket host name, label or id, not "${opts.socket}"`);
    const listenOn = opts.listen === undefined ? undefined : parseListenAddress(opts.listen, '--listen');
    const client = new TcpClient(resolveCredentials(opts), opts.socket);
    if (!listenOn) return stdio(client);
    const { host, port } = listenOn;
    // Fails fast on a bad token or a denied, unknown or HTTP socket, before anything listens.
    const target = await client.check();
    await listen(client, target, host, port, new TcpView(Boolean(opts.json)));
  });
}

/** One stream over stdin/stdout; resolves when both directions ended, throws when it was cut off. */
async function stdio(client: TcpClient): Promise<void> {
  const remote = await client.open();
  process.stdin.pipe(remote);
  remote.pipe(process.stdout);
  process.stdout.on('error', (err) => remote.destroy(err)); // whoever read our output is gone (EPIPE)
  await once(remote, 'close');
  if (!remote.completed) throw new CliError(remote.errored?.message ?? 'the stream was closed');
}

/** Listens until Ctrl-C / SIGTERM, or until the token stops working (every later connection would fail). */
async function listen(client: TcpClient, target: TcpTarget, host: string, port: number, view: TcpView): Promise<void> {
  const open = new Set<WebSocketByteStream>();
  let tokenFailed: (err: ApiError) => void = () => undefined;
  const fatal = new Promise<ApiError>((resolve) => (tokenFailed = resolve));

  const server = createServer({ allowHalfOpen: true, pauseOnConnect: true }, (local) => {
    const peer = `${local.remoteAddress}:${local.remotePort}`;
    local.on('error', () => undefined); // the 'close' handlers below decide what an error means
    client.open().then(
      (remote) => relay(local, remote, open, (err) => view.streamFailed(peer, err)),
      (err: CliError) => {
        local.destroy();
        view.streamFailed(peer, err);
        if (err instanceof ApiError && err.status === 401) tokenFailed(err);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new CliError(`cannot listen on ${host}:${port}: ${err.code ?? err.message}`)));
    server.listen(port, host, resolve);
  });
  const address = server.address() as AddressInfo;
  view.listening(address.family === 'IPv6' ? `[${address.address}]:${address.port}` : `${address.address}:${address.port}`, target, isLoopback(host));

  const stop = () => {
    server.close();
    for (const remote of open) remote.destroy(new TcpStreamError(TcpCloseCode.ABORTED, 'postern tcp is stopping'));
  };
  const outcome = await Promise.race([fatal, onShutdown(async () => stop()).then(() => null)]);
  if (outcome) {
    stop();
    throw new CliError(outcome.message);
  }
  view.stopped();
  process.exit(0);
}

/** Pipes a local connection and its stream both ways; either side failing cuts the other. */
function relay(local: Socket, remote: WebSocketByteStream, open: Set<WebSocketByteStream>, failed: (err: Error) => void): void {
  if (local.destroyed) {
    remote.destroy();
    return;
  }
  open.add(remote);
  local.pipe(remote);
  remote.pipe(local);
  local.once('close', (hadError) => {
    // A clean close (both ways ended) leaves the stream to finish sending what it holds.
    if (hadError || !local.readableEnded) remote.destroy(new TcpStreamError(TcpCloseCode.ABORTED, 'the local connection was reset'));
  });
  remote.once('close', () => {
    open.delete(remote);
    if (remote.completed) return;
    local.destroy();
    if (remote.errored) failed(remote.errored);
  });
}

function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || (isIP(host) === 4 && host.startsWith('127.'));
}

/** What `tcp --listen` shows: JSON lines with --json, short human lines otherwise. */
class TcpView {
  constructor(private readonly json: boolean) {}

  listening(address: string, target: TcpTarget, loopback: boolean): void {
    const { hostname } = target.socket;
    if (!loopback) out.warn(`listening beyond this machine: anyone who reaches ${address} uses ${hostname} as you`);
    if (!target.online) out.warn(`no connector is online for ${hostname} yet: connections fail until its owner runs "postern connect"`);
    if (this.json) return out.json({ event: 'listening', address, socket: hostname, online: target.online });
    out.success(`listening on ${out.highlight(address)} → ${hostname}`);
    out.info('press Ctrl-C to stop');
  }

  streamFailed(peer: string, err: Error): void {
    if (this.json) return out.json({ event: 'stream_error', client: peer, message: err.message });
    out.warn(`connection from ${peer}: ${err.message}`);
  }

  stopped(): void {
    if (this.json) out.json({ event: 'stopped' });
    else out.info('stopped');
  }
}
