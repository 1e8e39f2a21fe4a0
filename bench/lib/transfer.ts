/**
 * Single-stream transfers over plain node:http (one fresh TCP connection each, no agent pooling).
 * Requests always go to 127.0.0.1; `host` is the Host header (Postern routes by it).
 */
import { request, type IncomingMessage } from 'node:http';

export interface Endpoint {
  readonly port: number;
  /** Host header to send; undefined sends 127.0.0.1:port. */
  readonly host: string | undefined;
  /** Extra request headers (the signed-in socket sends a Postern bearer token). */
  readonly headers?: Readonly<Record<string, string>>;
}

export interface DownloadResult {
  readonly status: number;
  readonly bytes: number;
  readonly expected: number;
  readonly seconds: number;
}

export interface DownloadOptions {
  /** Read at most this many bytes per second (pause/resume token bucket); 0 = as fast as possible. */
  readonly rate?: number;
  /** With `rate`: pause once the reader is this many ms ahead of the rate (default 1: smooth reading). */
  readonly aheadMs?: number;
  /** Called at most every `progressMs` with the byte count so far. */
  readonly onProgress?: (bytes: number) => void;
  readonly progressMs?: number;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
}

function headers(ep: Endpoint, extra: Record<string, string> = {}): Record<string, string> {
  return { host: ep.host ?? `127.0.0.1:${ep.port}`, ...ep.headers, ...extra };
}

/** GET /bytes?n=N and count what arrives. */
export function download(ep: Endpoint, n: number, opts: DownloadOptions = {}): Promise<DownloadResult> {
  const rate = opts.rate ?? 0;
  const aheadMs = opts.aheadMs ?? 1;
  return new Promise((resolve, reject) => {
    const started = performance.now();
    let bytes = 0;
    let status = 0;
    let resumeTimer: NodeJS.Timeout | undefined;
    let progressTimer: NodeJS.Timeout | undefined;
    const deadline = setTimeout(() => req.destroy(new Error(`download timed out after ${opts.timeoutMs} ms (${bytes} bytes)`)), opts.timeoutMs ?? 120_000);
    const done = (err?: Error): void => {
      clearTimeout(deadline);
      clearTimeout(resumeTimer);
      clearInterval(progressTimer);
      if (err) reject(err);
      else resolve({ status, bytes, expected: n, seconds: (performance.now() - started) / 1000 });
    };
    const req = request(
      { host: '127.0.0.1', port: ep.port, path: `/bytes?n=${n}`, method: 'GET', agent: false, headers: headers(ep), signal: opts.signal },
      (res: IncomingMessage) => {
        status = res.statusCode ?? 0;
        const readStarted = performance.now();
        if (opts.onProgress) progressTimer = setInterval(() => opts.onProgress!(bytes), opts.progressMs ?? 250);
        res.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          if (rate > 0) {
            const ahead = (bytes / rate) * 1000 - (performance.now() - readStarted);
            if (ahead > aheadMs) {
              res.pause();
              resumeTimer = setTimeout(() => res.resume(), ahead);
            }
          }
        });
        res.once('end', () => done());
        res.once('error', (err) => done(err));
        res.once('aborted', () => done(new Error(`download aborted after ${bytes} bytes`)));
      },
    );
    req.once('error', (err) => done(err));
    req.end();
  });
}

export interface UploadResult {
  readonly status: number;
  readonly sent: number;
  /** What the app says it received. */
  readonly received: number;
  readonly seconds: number;
}

const UPLOAD_CHUNK = Buffer.alloc(64 * 1024, 0x62);

export interface UploadOptions {
  readonly path?: string;
  readonly timeoutMs?: number;
  readonly signal?: AbortSignal;
  /** Updated as the body is handed to the socket. */
  readonly progress?: { sent: number };
}

/** POST `n` bytes to /sink (Content-Length, written with backpressure) and read the app's count. */
export function upload(ep: Endpoint, n: number, opts: UploadOptions = {}): Promise<UploadResult> {
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const progress = opts.progress ?? { sent: 0 };
    let settled = false;
    const deadline = setTimeout(
      () => req.destroy(new Error(`upload timed out after ${opts.timeoutMs} ms (${progress.sent} bytes sent)`)),
      opts.timeoutMs ?? 120_000,
    );
    const finish = (err: Error | null, result?: UploadResult): void => {
      if (settled) return;
      settled = true;
      clearTimeout(deadline);
      if (err) reject(err);
      else resolve(result!);
    };
    const req = request(
      {
        host: '127.0.0.1',
        port: ep.port,
        path: opts.path ?? '/sink',
        method: 'POST',
        agent: false,
        headers: headers(ep, { 'content-type': 'application/octet-stream', 'content-length': String(n) }),
        signal: opts.signal,
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (body += d));
        res.once('end', () => {
          let received = -1;
          try {
            received = Number((JSON.parse(body) as { bytes?: number }).bytes ?? -1);
          } catch {
            /* not JSON: leave -1 */
          }
          finish(null, { status: res.statusCode ?? 0, sent: progress.sent, received, seconds: (performance.now() - started) / 1000 });
        });
        res.once('error', (err) => finish(err));
      },
    );
    req.once('error', (err) => finish(err));
    let left = n;
    const pump = (): void => {
      while (left > 0) {
        const size = Math.min(left, UPLOAD_CHUNK.length);
        left -= size;
        progress.sent += size;
        if (!req.write(size === UPLOAD_CHUNK.length ? UPLOAD_CHUNK : UPLOAD_CHUNK.subarray(0, size))) {
          req.once('drain', pump);
          return;
        }
      }
      req.end();
    };
    pump();
  });
}

/** A small GET, to check a path works end to end before measuring it. */
export function getText(ep: Endpoint, path: string, timeoutMs = 10_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port: ep.port, path, agent: false, headers: headers(ep), timeout: timeoutMs }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.once('end', () => resolve({ status: res.statusCode ?? 0, body }));
      res.once('error', reject);
    });
    req.once('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
    req.once('error', reject);
    req.end();
  });
}
