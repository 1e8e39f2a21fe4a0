import { createHash } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { patternChunks } from './pattern.js';

/**
 * An app that is not node:http: a raw `net` server that answers the way small and odd servers do,
 * byte for byte as scripted (HTTP/1.0, close-delimited bodies, interim answers, resets, bytes that
 * are not HTTP). Reading the request is deliberately crude (up to the blank line, plus a
 * Content-Length body when the behaviour keeps the connection): it stands for those servers.
 *
 * Every answer is chosen by the request's path, `/<behaviour>?n=<bytes>`:
 *
 *   /http10-length   HTTP/1.0 with Content-Length, then close
 *   /http10-eof      HTTP/1.0 without Content-Length: the body ends when the connection does
 *   /eof             HTTP/1.1, `Connection: close`, no length, no chunking: close-delimited
 *   /length-close    HTTP/1.1 with Content-Length and `Connection: close`, then close
 *   /chunked-close   HTTP/1.1 chunked with `Connection: close`, then close
 *   /interim         102 Processing and 103 Early Hints, then a 200 with a body
 *   /early-answer    answers 200 as soon as the head is in, then reads (and counts) the body
 *   /refuse-upload   answers 413 with `Connection: close` without reading the body, then closes
 *   /reset           Content-Length n, half of the body, then a TCP reset
 *   /reset-eof       close-delimited, half of the body, then a TCP reset
 *   /head-body       Content-Length 12 and a body of 12 bytes, also to HEAD (which must have none)
 *   /not-http        an SSH greeting, then silence (the connector points at the wrong port)
 *   /tls             the first bytes of a TLS alert, then close (an HTTPS port)
 *   /reason-ff       status line `200 \xffOK\xfe` (bytes that are not text)
 *   /reason-utf8     status line `200 成功` (UTF-8, not the Latin-1 HTTP allows)
 *   /ok              `ok` with Content-Length, keep-alive
 *   /s/<name>        the bytes scripted with script(name, ...), verbatim
 *
 * Bodies are `n` pattern bytes (see pattern.ts, seed = n), so a client checks them by sha256.
 */
export class RawApp {
  /** Body bytes received by /early-answer, per request, in arrival order. */
  readonly earlyBodies: number[] = [];
  private readonly sockets = new Set<Socket>();
  private readonly bodies = new Map<number, Buffer>();
  private readonly scripts = new Map<string, { bytes: Buffer; close: boolean }>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static async start(): Promise<RawApp> {
    const server = createServer({ allowHalfOpen: true });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', resolve);
    });
    const address = server.address();
    const app = new RawApp(server, typeof address === 'object' && address ? address.port : 0);
    server.on('connection', (socket) => app.serve(socket));
    return app;
  }

  /** The body every sized behaviour sends for `n`, and its sha256 (the client's expectation). */
  body(n: number): Buffer {
    let body = this.bodies.get(n);
    if (!body) {
      body = Buffer.concat([...patternChunks(n, n)]);
      this.bodies.set(n, body);
    }
    return body;
  }

  sha256(n: number): string {
    return createHash('sha256').update(this.body(n)).digest('hex');
  }

  /** What GET /s/<name> answers, byte for byte; the connection is closed after it unless `close` is false. */
  script(name: string, bytes: string | Buffer, options: { close?: boolean } = {}): string {
    this.scripts.set(name, { bytes: typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes, close: options.close ?? true });
    return `/s/${name}`;
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private serve(socket: Socket): void {
    this.sockets.add(socket);
    socket.on('close', () => this.sockets.delete(socket));
    socket.on('error', () => socket.destroy());
    let buffered = Buffer.alloc(0);
    /** Body bytes still to skip before the next request head (keep-alive behaviours). */
    let skip = 0;
    /** While set, request bytes go to it instead (a behaviour reading the body itself). */
    let bodySink: ((chunk: Buffer) => void) | null = null;
    socket.on('data', (chunk: Buffer) => {
      if (bodySink) return bodySink(chunk);
      buffered = Buffer.concat([buffered, chunk]);
      for (;;) {
        if (skip > 0) {
          const n = Math.min(skip, buffered.length);
          skip -= n;
          buffered = buffered.subarray(n);
          if (skip > 0) return;
        }
        const end = buffered.indexOf('\r\n\r\n');
        if (end < 0) return;
        const head = buffered.subarray(0, end).toString('latin1');
        buffered = buffered.subarray(end + 4);
        const [requestLine = '', ...lines] = head.split('\r\n');
        const [method = 'GET', target = '/'] = requestLine.split(' ');
        const length = Number(/^content-length:\s*(\d+)/im.exec(lines.join('\n'))?.[1] ?? 0);
        const url = new URL(target, 'http://raw.app');
        const keepAlive = this.answer(socket, method, url, length, (sink) => {
          bodySink = sink;
          if (buffered.length > 0) sink(buffered);
          buffered = Buffer.alloc(0);
        });
        if (!keepAlive || bodySink) return;
        skip = length;
      }
    });
  }

  /** Writes the scripted answer; returns whether the connection stays open for another request. */
  private answer(socket: Socket, _method: string, url: URL, requestLength: number, readBody: (sink: (chunk: Buffer) => void) => void): boolean {
    const n = Number(url.searchParams.get('n') ?? 100);
    const head = (lines: string[]): string => `${lines.join('\r\n')}\r\n\r\n`;
    const octets = 'Content-Type: application/octet-stream';
    switch (url.pathname) {
      case '/http10-length':
        socket.write(head(['HTTP/1.0 200 OK', octets, `Content-Length: ${n}`]));
        socket.end(this.body(n));
        return false;
      case '/http10-eof':
        socket.write(head(['HTTP/1.0 200 OK', octets]));
        socket.end(this.body(n));
        return false;
      case '/eof':
        socket.write(head(['HTTP/1.1 200 OK', octets, 'Connection: close']));
        socket.end(this.body(n));
        return false;
      case '/length-close':
        socket.write(head(['HTTP/1.1 200 OK', octets, `Content-Length: ${n}`, 'Connection: close']));
        socket.end(this.body(n));
        return false;
      case '/chunked-close': {
        socket.write(head(['HTTP/1.1 200 OK', octets, 'Transfer-Encoding: chunked', 'Connection: close']));
        const body = this.body(n);
        for (let at = 0; at < body.length; at += 64 * 1024) {
          const part = body.subarray(at, at + 64 * 1024);
          socket.write(`${part.length.toString(16)}\r\n`);
          socket.write(part);
          socket.write('\r\n');
        }
        socket.end('0\r\n\r\n');
        return false;
      }
      case '/interim':
        socket.write(head(['HTTP/1.1 102 Processing']));
        socket.write(head(['HTTP/1.1 103 Early Hints', 'Link: </style.css>; rel=preload; as=style']));
        socket.write(head(['HTTP/1.1 200 OK', octets, `Content-Length: ${n}`]));
        socket.write(this.body(n));
        return true;
      case '/early-answer': {
        socket.write(head(['HTTP/1.1 200 OK', 'Content-Type: text/plain', 'Content-Length: 6']) + 'early\n');
        let received = 0;
        const index = this.earlyBodies.push(0) - 1;
        readBody((chunk) => {
          received += chunk.length;
          this.earlyBodies[index] = received;
          if (received >= requestLength) socket.end();
        });
        if (requestLength === 0) socket.end();
        return true;
      }
      case '/refuse-upload':
        socket.end(head(['HTTP/1.1 413 Payload Too Large', 'Content-Type: text/plain', 'Content-Length: 9', 'Connection: close']) + 'too big!\n');
        // A server that stops reading: whatever the client still sends is dropped with the socket.
        setTimeout(() => socket.destroy(), 200).unref();
        readBody(() => undefined);
        return false;
      case '/reset':
        socket.write(head(['HTTP/1.1 200 OK', octets, `Content-Length: ${n}`]));
        socket.write(this.body(n).subarray(0, n >> 1), () => setTimeout(() => socket.resetAndDestroy(), 50));
        return false;
      case '/reset-eof':
        socket.write(head(['HTTP/1.1 200 OK', octets, 'Connection: close']));
        socket.write(this.body(n).subarray(0, n >> 1), () => setTimeout(() => socket.resetAndDestroy(), 50));
        return false;
      case '/head-body':
        socket.write(head(['HTTP/1.1 200 OK', 'Content-Type: text/plain', 'Content-Length: 12']) + 'hello world\n');
        return true;
      case '/not-http':
        socket.write('SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n');
        return false;
      case '/tls':
        // A TLS record (alert, protocol_version): what an HTTPS port says to a plain HTTP request.
        socket.end(Buffer.from([0x15, 0x03, 0x03, 0x00, 0x02, 0x02, 0x46]));
        return false;
      case '/reason-ff':
        socket.write(Buffer.concat([Buffer.from('HTTP/1.1 200 '), Buffer.from([0xff]), Buffer.from('OK'), Buffer.from([0xfe]), Buffer.from('\r\nContent-Length: 2\r\n\r\nok')]));
        return true;
      case '/reason-utf8':
        socket.write(Buffer.from('HTTP/1.1 200 成功\r\nContent-Length: 2\r\n\r\nok', 'utf8'));
        return true;
      case '/ok':
        socket.write(head(['HTTP/1.1 200 OK', 'Content-Type: text/plain', 'Content-Length: 3']) + 'ok\n');
        return true;
      default: {
        const scripted = url.pathname.startsWith('/s/') ? this.scripts.get(url.pathname.slice(3)) : undefined;
        if (scripted) {
          socket.write(scripted.bytes);
          if (scripted.close) socket.end();
          return !scripted.close;
        }
        socket.write(head(['HTTP/1.1 404 Not Found', 'Content-Type: text/plain', 'Content-Length: 10']) + 'not found\n');
        return true;
      }
    }
  }
}
