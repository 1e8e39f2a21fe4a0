import { createHash, randomBytes } from 'node:crypto';
import http, { type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import https from 'node:https';
import { connect as tcpConnect, type Socket } from 'node:net';
import { checkServerIdentity, type PeerCertificate } from 'node:tls';
import type { Readable } from 'node:stream';
import WebSocket from 'ws';
import { withTimeout } from './wait.js';

/**
 * Requests go to 127.0.0.1:PORT with an explicit Host header: this machine's resolver does not
 * know `*.localhost`, and the edge routes by Host anyway.
 */
export interface RequestOptions {
  readonly port: number;
  /** The Host header (e.g. `app-xyz.localhost:8080`). */
  readonly host: string;
  readonly method?: string;
  readonly path?: string;
  readonly headers?: OutgoingHttpHeaders;
  /** A buffer, or a stream piped as the body. */
  readonly body?: Buffer | Readable | undefined;
  readonly timeoutMs?: number;
  /** HTTPS, trusting only this CA (PEM); SNI and the name check use the Host header's name. */
  readonly ca?: string | undefined;
  /** The TLS name to ask for and check, when the Host header names something else on purpose. */
  readonly servername?: string | undefined;
  /** Source address of the connection (e.g. 127.0.0.2), to be another client on loopback. */
  readonly localAddress?: string | undefined;
}

export interface Response {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface StreamedResponse {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  readonly sha256: string;
  readonly length: number;
}

/**
 * Node refuses a wildcard right under a one-label name (`*.localhost`; RFC 6125 leaves that to
 * clients), and the test certificates name socket hosts that way, since Node's resolver here only
 * knows `localhost`. Exactly that case is accepted; every other name is checked as Node does.
 */
function checkTestServerName(name: string, cert: PeerCertificate): Error | undefined {
  if (/^[a-z0-9-]+\.localhost$/.test(name) && (cert.subjectaltname ?? '').split(', ').includes('DNS:*.localhost')) return undefined;
  return checkServerIdentity(name, cert);
}

/** Client TLS options for an edge whose certificate chains to `ca`, reached with Host `host`. */
export function tlsClientOptions(host: string, ca: string) {
  return { ca, servername: host.replace(/:\d+$/, ''), checkServerIdentity: checkTestServerName };
}

function start(options: RequestOptions, onResponse: (res: http.IncomingMessage) => void, reject: (err: Error) => void): http.ClientRequest {
  const common = {
    host: '127.0.0.1',
    port: options.port,
    method: options.method ?? 'GET',
    path: options.path ?? '/',
    headers: { host: options.host, ...options.headers },
    agent: false,
    ...(options.localAddress ? { localAddress: options.localAddress } : {}),
  } as const;
  const req = options.ca ? https.request({ ...common, ...tlsClientOptions(options.servername ?? options.host, options.ca) }) : http.request(common);
  req.on('response', onResponse);
  req.on('error', reject);
  const body = options.body;
  if (body === undefined) req.end();
  else if (Buffer.isBuffer(body)) req.end(body);
  else {
    body.on('error', (err) => req.destroy(err));
    body.pipe(req);
  }
  return req;
}

/** One request, body buffered (for small answers). Bounded by `timeoutMs` (default 10 s). */
export function request(options: RequestOptions): Promise<Response> {
  let req: http.ClientRequest | undefined;
  const done = new Promise<Response>((resolve, reject) => {
    req = start(
      options,
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
      reject,
    );
  });
  const ms = options.timeoutMs ?? 10_000;
  return withTimeout(done, ms, `${options.method ?? 'GET'} ${options.host}${options.path ?? '/'}`).catch((err: unknown) => {
    req?.destroy();
    throw err;
  });
}

/** One request whose answer is hashed as it streams (large downloads never sit in memory). */
export function requestHashed(options: RequestOptions): Promise<StreamedResponse> {
  let req: http.ClientRequest | undefined;
  const done = new Promise<StreamedResponse>((resolve, reject) => {
    req = start(
      options,
      (res) => {
        const hash = createHash('sha256');
        let length = 0;
        res.on('data', (c: Buffer) => {
          hash.update(c);
          length += c.length;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, sha256: hash.digest('hex'), length }));
        res.on('error', reject);
      },
      reject,
    );
  });
  const ms = options.timeoutMs ?? 30_000;
  return withTimeout(done, ms, `${options.method ?? 'GET'} ${options.host}${options.path ?? '/'}`).catch((err: unknown) => {
    req?.destroy();
    throw err;
  });
}

/** A streamed response with the arrival time of every chunk (SSE). */
export function requestTimed(
  options: RequestOptions,
  onChunk: (chunk: string, at: number) => void,
): Promise<{ status: number; headers: IncomingHttpHeaders; endedAt: number }> {
  let req: http.ClientRequest | undefined;
  const done = new Promise<{ status: number; headers: IncomingHttpHeaders; endedAt: number }>((resolve, reject) => {
    req = start(
      options,
      (res) => {
        res.setEncoding('utf8');
        res.on('data', (c: string) => onChunk(c, performance.now()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, endedAt: performance.now() }));
        res.on('error', reject);
      },
      reject,
    );
  });
  return withTimeout(done, options.timeoutMs ?? 15_000, `streamed GET ${options.path ?? '/'}`).catch((err: unknown) => {
    req?.destroy();
    throw err;
  });
}

/**
 * Writes `text` verbatim on a fresh TCP connection (from `localAddress` if given) and reads until the
 * peer closes (or until one whole response arrived when it carries a Content-Length). For requests a
 * normal client refuses to send.
 */
export function rawHttp(port: number, text: string | Buffer, timeoutMs = 10_000, localAddress?: string): Promise<{ status: number; head: string; body: string }> {
  let socket: Socket | undefined;
  const done = new Promise<{ status: number; head: string; body: string }>((resolve, reject) => {
    socket = tcpConnect({ host: '127.0.0.1', port, ...(localAddress ? { localAddress } : {}) });
    const chunks: Buffer[] = [];
    const finish = () => {
      const all = Buffer.concat(chunks).toString('latin1');
      const split = all.indexOf('\r\n\r\n');
      const head = split === -1 ? all : all.slice(0, split);
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      resolve({ status, head, body: split === -1 ? '' : all.slice(split + 4) });
    };
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      const all = Buffer.concat(chunks).toString('latin1');
      const split = all.indexOf('\r\n\r\n');
      if (split === -1) return;
      const length = /\r\ncontent-length:\s*(\d+)/i.exec(all.slice(0, split))?.[1];
      if (length !== undefined && all.length - split - 4 >= Number(length)) {
        socket!.destroy();
        finish();
      }
    });
    socket.on('end', finish);
    socket.on('close', finish);
    socket.on('error', (err: NodeJS.ErrnoException) => {
      // The server may reset after answering; what arrived still counts.
      if (chunks.length > 0) finish();
      else reject(err);
    });
    socket.write(text);
  });
  return withTimeout(done, timeoutMs, 'raw HTTP exchange').finally(() => socket?.destroy());
}

export type UpgradeResult =
  | { readonly status: 101; readonly headers: IncomingHttpHeaders; readonly socket: Socket }
  | { readonly status: number; readonly headers: IncomingHttpHeaders; readonly body: string };

/** A WebSocket upgrade request with chosen headers; returns the refusal (status + body) or the socket. */
export function rawUpgrade(port: number, host: string, path: string, headers: OutgoingHttpHeaders, timeoutMs = 10_000): Promise<UpgradeResult> {
  let req: http.ClientRequest | undefined;
  const done = new Promise<UpgradeResult>((resolve, reject) => {
    req = http.request({
      host: '127.0.0.1',
      port,
      path,
      agent: false,
      headers: {
        host,
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': randomBytes(16).toString('base64'),
        ...headers,
      },
    });
    req.on('upgrade', (res, socket) => resolve({ status: 101, headers: res.headers, socket: socket as Socket }));
    req.on('response', (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
  return withTimeout(done, timeoutMs, `upgrade ${host}${path}`).catch((err: unknown) => {
    req?.destroy();
    throw err;
  });
}

interface Inbox {
  readonly queue: { data: Buffer; isBinary: boolean }[];
  waiter: (() => void) | undefined;
}

/**
 * Messages of sockets opened by openWebSocket, collected from the start: a message that arrives
 * together with the handshake answer is emitted before an `await openWebSocket()` resumes.
 */
const inboxes = new WeakMap<WebSocket, Inbox>();

/**
 * Opens a WebSocket to 127.0.0.1:PORT with an explicit Host header (wss when `ca` is given).
 * Refusals reject with the status.
 */
export function openWebSocket(port: number, host: string, path: string, headers: Record<string, string> = {}, timeoutMs = 10_000, ca?: string): Promise<WebSocket> {
  const ws = ca
    ? new WebSocket(`wss://127.0.0.1:${port}${path}`, { headers: { host, ...headers }, perMessageDeflate: false, ...tlsClientOptions(host, ca) })
    : new WebSocket(`ws://127.0.0.1:${port}${path}`, { headers: { host, ...headers }, perMessageDeflate: false });
  const inbox: Inbox = { queue: [], waiter: undefined };
  inboxes.set(ws, inbox);
  ws.on('message', (data, isBinary) => {
    inbox.queue.push({ data: Array.isArray(data) ? Buffer.concat(data) : Buffer.from(data as Buffer), isBinary });
    inbox.waiter?.();
  });
  ws.on('close', () => inbox.waiter?.());
  const opened = new Promise<WebSocket>((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`WebSocket refused with HTTP ${res.statusCode}`)));
  });
  return withTimeout(opened, timeoutMs, `WebSocket ${host}${path}`).catch((err: unknown) => {
    ws.terminate();
    throw err;
  });
}

/** The next message on a socket from openWebSocket (queued ones first), bounded. */
export function nextMessage(ws: WebSocket, timeoutMs = 10_000): Promise<{ data: Buffer; isBinary: boolean }> {
  const inbox = inboxes.get(ws);
  if (!inbox) return Promise.reject(new Error('nextMessage() needs a socket from openWebSocket()'));
  const got = new Promise<{ data: Buffer; isBinary: boolean }>((resolve, reject) => {
    const check = () => {
      const message = inbox.queue.shift();
      if (message) {
        inbox.waiter = undefined;
        resolve(message);
      } else if (ws.readyState === WebSocket.CLOSED || ws.readyState === WebSocket.CLOSING) {
        inbox.waiter = undefined;
        reject(new Error('WebSocket closed before a message arrived'));
      }
    };
    inbox.waiter = check;
    check();
  });
  return withTimeout(got, timeoutMs, 'a WebSocket message').finally(() => {
    inbox.waiter = undefined;
  });
}

/** The close code and reason of `ws`, bounded. */
export function closeOf(ws: WebSocket, timeoutMs = 10_000): Promise<{ code: number; reason: string }> {
  if (ws.readyState === WebSocket.CLOSED) return Promise.reject(new Error('WebSocket already closed before closeOf() was called'));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.once('close', (code, reason) => resolve({ code, reason: reason.toString('utf8') }));
  });
  return withTimeout(closed, timeoutMs, 'the WebSocket to close');
}

export interface DownloadOutcome {
  readonly status: number;
  readonly headers: IncomingHttpHeaders;
  /** Body bytes received. */
  readonly length: number;
  /** The body ended properly: the declared length, or the terminating chunk, arrived. */
  readonly complete: boolean;
  /** Why it did not, as the HTTP client reported it. */
  readonly error: string | undefined;
}

/**
 * A GET whose reading the test controls: it reads until `pauseAfter` body bytes arrived, then stops
 * reading (TCP pushes back up the chain) until `resume()`. For faults in the middle of a transfer.
 */
export class PausableDownload {
  received = 0;
  /** Resolves once `pauseAfter` bytes arrived and reading stopped. */
  readonly paused: Promise<void>;
  readonly outcome: Promise<DownloadOutcome>;
  private res: http.IncomingMessage | undefined;
  private req: http.ClientRequest | undefined;
  private pausedOnce = false;

  constructor(options: RequestOptions & { readonly pauseAfter: number }) {
    let onPaused: () => void = () => undefined;
    this.paused = new Promise((resolve) => (onPaused = resolve));
    const done = new Promise<DownloadOutcome>((resolve, reject) => {
      this.req = start(
        options,
        (res) => {
          this.res = res;
          let error: string | undefined;
          res.on('data', (c: Buffer) => {
            this.received += c.length;
            if (this.received >= options.pauseAfter && !this.pausedOnce) {
              this.pausedOnce = true;
              res.pause();
              onPaused();
            }
          });
          res.on('error', (err) => (error ??= err.message));
          res.on('close', () =>
            resolve({ status: res.statusCode ?? 0, headers: res.headers, length: this.received, complete: res.complete, error }),
          );
        },
        reject,
      );
    });
    this.outcome = withTimeout(done, options.timeoutMs ?? 60_000, `download ${options.host}${options.path ?? '/'}`).catch((err: unknown) => {
      this.req?.destroy();
      throw err;
    });
  }

  /** Reads on, without pausing again. */
  resume(): void {
    this.res?.resume();
  }

  /** Gives up: closes the connection. */
  destroy(): void {
    this.req?.destroy();
  }
}
