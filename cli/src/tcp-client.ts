import { HandshakeHeader, TCP_MAX_MESSAGE, TCP_PATH, TcpCloseCode, WebSocketByteStream } from '@postern/shared';
import { request } from 'undici';
import WebSocket from 'ws';
import { ApiError } from './api-client.js';
import type { Credentials } from './credentials.js';
import { EdgeRoute } from './edge-route.js';

/**
 * Longer than the edge's own wait for the connector to reach the app (60 s by default), so a slow
 * app ends with the edge's APP_TIMEOUT answer rather than a bare timeout here.
 */
const HANDSHAKE_TIMEOUT_MS = 75_000;
/** Error bodies are small JSON documents; anything longer is cut. */
const MAX_ERROR_BODY = 16 * 1024;

/** What a preflight found: the socket as the edge names it, and whether a connector serves it now. */
export interface TcpTarget {
  readonly socket: { readonly name: string; readonly hostname: string };
  readonly online: boolean;
}

/**
 * Opens TCP streams to one socket through the edge's `/v1/tcp` endpoint (docs/PROTOCOL.md, "TCP
 * streams"), on the first of the given edges that can be reached (nothing is opened before the
 * upgrade answers, so any failure to reach one may try the next).
 */
export class TcpClient {
  private readonly headers: Record<string, string>;
  private readonly edges: EdgeRoute;

  constructor(creds: Credentials, socket: string) {
    this.headers = { authorization: `Bearer ${creds.token}`, [HandshakeHeader.SOCKET]: socket, accept: 'application/json' };
    this.edges = new EdgeRoute(creds.edgeUrls);
  }

  /** Checks token, socket, policy and connector without opening anything; throws the refusal. */
  async check(): Promise<TcpTarget> {
    const res = await this.edges.first((url) => request(new URL(TCP_PATH, url), { headers: this.headers, headersTimeout: 15_000, bodyTimeout: 15_000 }), () => true);
    const text = await res.body.text();
    if (res.statusCode !== 200) throw refusal(res.statusCode, text);
    return JSON.parse(text) as TcpTarget;
  }

  /** Opens one stream to the socket's app; rejects with the edge's refusal as one readable line. */
  open(): Promise<WebSocketByteStream> {
    return this.edges.first((url) => this.openOn(url), () => true);
  }

  /** Rejects with an ApiError for the edge's refusal, with the raw error when the edge was not reached. */
  private openOn(edgeUrl: string): Promise<WebSocketByteStream> {
    const ws = new WebSocket(new URL(TCP_PATH, edgeUrl), {
      headers: this.headers,
      perMessageDeflate: false,
      maxPayload: TCP_MAX_MESSAGE,
      handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
    });
    return new Promise((resolve, reject) => {
      ws.once('open', () => {
        ws.off('error', onError);
        resolve(new WebSocketByteStream(ws, { abortClose: { code: TcpCloseCode.ABORTED, reason: 'postern tcp closed the stream' } }));
      });
      const onError = (err: Error) => reject(err);
      ws.on('error', onError);
      ws.once('unexpected-response', (_req, res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          if ((size += chunk.length) <= MAX_ERROR_BODY) chunks.push(chunk);
        });
        res.once('end', () => {
          reject(refusal(res.statusCode ?? 0, Buffer.concat(chunks).toString('utf8')));
          ws.terminate();
        });
        res.once('error', onError);
      });
    });
  }
}

/** The edge's JSON error (`{"error":{"code","message"}}`), or the raw answer of something else in front of it. */
function refusal(status: number, body: string): ApiError {
  try {
    const { error } = JSON.parse(body) as { error: { code: string; message: string } };
    return new ApiError(status, error.code, error.message);
  } catch {
    return new ApiError(status, 'HTTP_ERROR', `the edge answered ${status}: ${body.slice(0, 200)}`);
  }
}
