import { randomFillSync } from 'node:crypto';
import { HandshakeHeader, PROTOCOL_VERSION, TUNNEL_PATH } from '@postern/shared';
import WebSocket from 'ws';
import { tunnelUrl, type ConnectorConfig } from './config.js';
import { isLoopbackHost } from './edges.js';
import { ConnectorError, refusalError, unreachableReason } from './errors.js';

/**
 * Masking guards against intermediaries that cache or misparse plain WebSocket traffic. TLS
 * (wss) and loopback exclude them, so there an all-zero mask lets `ws` skip a copy of every byte.
 */
function maskFor(url: URL): (mask: Buffer) => void {
  if (url.protocol === 'wss:' || isLoopbackHost(url.hostname)) return (mask) => mask.fill(0);
  return (mask) => randomFillSync(mask);
}

/**
 * Opens one tunnel WebSocket to `edgeUrl`; resolves once the edge accepted the upgrade. The socket is paused on
 * open: the edge's first frames may arrive with the 101 answer, and they must wait until the caller
 * has attached its session (it calls `ws.resume()`), or they would be emitted to nobody.
 */
export function dialTunnel(config: ConnectorConfig, edgeUrl: string): Promise<WebSocket> {
  const url = tunnelUrl(edgeUrl, TUNNEL_PATH);
  const headers: Record<string, string> = {
    authorization: `Bearer ${config.token}`,
    [HandshakeHeader.PROTOCOL]: String(PROTOCOL_VERSION),
    [HandshakeHeader.SOCKET]: config.socketId,
    [HandshakeHeader.CONNECTOR]: config.connectorId,
  };
  if (config.hostRewrite) headers[HandshakeHeader.HOST_REWRITE] = config.hostRewrite;
  if (config.tunnelId) headers[HandshakeHeader.TUNNEL] = config.tunnelId;
  if (config.requestEvents) headers[HandshakeHeader.EVENTS] = 'request';

  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, {
      headers,
      perMessageDeflate: false,
      handshakeTimeout: 10_000,
      maxPayload: 256 * 1024,
      generateMask: maskFor(url),
    });
    ws.once('unexpected-response', (req, res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        if (body.length < 4096) body += chunk;
      });
      // The body says why (an expired token, an unknown socket): destroy only once it is read.
      const refuse = () => {
        reject(refusalError(res.statusCode ?? 0, body));
        req.destroy();
      };
      res.on('end', refuse);
      res.on('error', refuse);
    });
    ws.once('upgrade', (res) => {
      const version = res.headers[HandshakeHeader.PROTOCOL];
      if (version !== undefined && version !== String(PROTOCOL_VERSION)) {
        ws.terminate();
        const older = Number(version) < PROTOCOL_VERSION ? 'edge' : 'connector';
        reject(new ConnectorError('PROTOCOL_VERSION', `the edge speaks tunnel protocol ${String(version)}, this connector speaks ${PROTOCOL_VERSION}: upgrade the ${older}`));
      }
    });
    ws.once('open', () => {
      ws.pause();
      resolve(ws);
    });
    ws.once('error', (err: Error) =>
      reject(new ConnectorError('EDGE_UNREACHABLE', `cannot reach the edge at ${edgeUrl}: ${unreachableReason(err)}`, { cause: err })),
    );
  });
}
