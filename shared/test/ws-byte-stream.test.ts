import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo } from 'node:net';
import { after, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { WebSocket, WebSocketServer } from 'ws';
import { TCP_MAX_MESSAGE, TcpCloseCode, TcpStreamError, WebSocketByteStream } from '../src/index.js';

const MiB = 1024 * 1024;
const abortClose = { code: TcpCloseCode.ACCESS_ENDED, reason: 'access ended' };
const sha256 = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

async function until(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(2);
  }
}

/** Returns once `progress()` has not changed for `quietMs` (at most `timeoutMs`). */
async function untilQuiet(progress: () => number, quietMs: number, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = progress();
  let since = performance.now();
  while (performance.now() - since < quietMs) {
    if (performance.now() > deadline) throw new Error(`still moving after ${timeoutMs} ms`);
    await delay(5);
    if (progress() !== last) {
      last = progress();
      since = performance.now();
    }
  }
}

const servers: WebSocketServer[] = [];
after(() => {
  for (const wss of servers) {
    for (const client of wss.clients) client.terminate();
    wss.close();
  }
});

/** Two byte streams over one loopback WebSocket, with the raw sockets for close codes and spying. */
async function pair(): Promise<{ edge: WebSocketByteStream; client: WebSocketByteStream; edgeWs: WebSocket; clientWs: WebSocket }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false, maxPayload: TCP_MAX_MESSAGE });
  servers.push(wss);
  await once(wss, 'listening');
  const accepted = once(wss, 'connection') as Promise<[WebSocket]>;
  const clientWs = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { perMessageDeflate: false, maxPayload: TCP_MAX_MESSAGE });
  await once(clientWs, 'open');
  const [edgeWs] = await accepted;
  return { edge: new WebSocketByteStream(edgeWs, { abortClose }), client: new WebSocketByteStream(clientWs, { abortClose }), edgeWs, clientWs };
}

/** Everything until the peer's `end` (not `for await`, which would destroy the stream and its write side). */
async function readAll(stream: WebSocketByteStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  stream.on('data', (chunk: Buffer) => chunks.push(chunk));
  await once(stream, 'end');
  return Buffer.concat(chunks);
}

describe('WebSocketByteStream', () => {
  it('half-close: one side ends, the other still sends, then both close with 1000', async () => {
    const { edge, client, clientWs } = await pair();
    const clientClose = once(clientWs, 'close');
    client.end(Buffer.from('request'));
    assert.equal((await readAll(edge)).toString(), 'request', 'the edge sees the data, then the end');
    assert.equal(edge.writable, true, 'the edge may still answer');
    const answer = readAll(client);
    edge.end(Buffer.from('answer after the client ended'));
    assert.equal((await answer).toString(), 'answer after the client ended');
    const [code] = (await clientClose) as [number];
    assert.equal(code, TcpCloseCode.NORMAL);
    await until(() => edge.destroyed && client.destroyed, 'both streams to close');
    assert.equal(edge.completed && client.completed, true);
    assert.equal(edge.errored, null);
    assert.equal(client.errored, null);
  });

  it('splits a large write into messages of at most TCP_MAX_MESSAGE and counts bytes both ways', async () => {
    const { edge, client, edgeWs } = await pair();
    const sizes: number[] = [];
    edgeWs.on('message', (data: Buffer, isBinary) => isBinary && sizes.push(data.length));
    const data = randomBytes(MiB + 123);
    client.end(data);
    const received = await readAll(edge);
    assert.equal(sha256(received), sha256(data));
    assert.ok(Math.max(...sizes) <= TCP_MAX_MESSAGE, `largest message ${Math.max(...sizes)}`);
    assert.equal(client.bytesWritten, data.length);
    assert.equal(edge.bytesRead, data.length);
    edge.end();
  });

  it('socket-back-pressure: a reader that stops pauses the writer with bounded buffers, and nothing is lost', { timeout: 20_000 }, async () => {
    const { edge, client } = await pair();
    const data = randomBytes(64 * MiB);
    let offset = 0;
    const pump = () => {
      while (offset < data.length) {
        const chunk = data.subarray(offset, (offset += 256 * 1024));
        if (!client.write(chunk)) return void client.once('drain', pump);
      }
      client.end();
    };
    pump();
    // Nobody reads `edge`: the writer must stall well before it sent everything.
    await untilQuiet(() => client.bytesWritten, 100, 10_000);
    assert.ok(client.bytesWritten < data.length, `the writer stalled at ${client.bytesWritten} of ${data.length} bytes`);
    assert.ok(edge.readableLength <= 2 * edge.readableHighWaterMark, `the reader buffers ${edge.readableLength} bytes`);
    assert.equal(sha256(await readAll(edge)), sha256(data));
    edge.end();
  });

  it('an error on one side reaches the other as its close code and reason', async () => {
    const { edge, client } = await pair();
    edge.destroy(new TcpStreamError(TcpCloseCode.UPSTREAM_FAILED, 'the connection to ssh.example failed: ECONNRESET'));
    await until(() => client.destroyed, 'the client stream to close');
    assert.ok(client.errored instanceof TcpStreamError);
    assert.equal(client.errored.code, TcpCloseCode.UPSTREAM_FAILED);
    assert.equal(client.errored.reason, 'the connection to ssh.example failed: ECONNRESET');
    assert.equal(client.completed, false);
  });

  it('destroy() without an error sends the configured abort close (revocation)', async () => {
    const { edge, client } = await pair();
    edge.destroy();
    await until(() => client.destroyed, 'the client stream to close');
    assert.ok(client.errored instanceof TcpStreamError);
    assert.deepEqual({ code: client.errored.code, reason: client.errored.reason }, abortClose);
  });

  it('treats an unknown text message as a protocol error', async () => {
    const { edge, clientWs } = await pair();
    const closed = once(clientWs, 'close');
    clientWs.send('hello');
    const [code] = (await closed) as [number];
    assert.equal(code, 1003);
    assert.ok(edge.errored instanceof TcpStreamError);
  });

  it('keeps close reasons within the 123 bytes WebSocket allows', async () => {
    const { edge, client } = await pair();
    edge.destroy(new TcpStreamError(TcpCloseCode.UPSTREAM_FAILED, 'é'.repeat(200)));
    await until(() => client.destroyed, 'the client stream to close');
    const reason = (client.errored as TcpStreamError).reason;
    assert.ok(Buffer.byteLength(reason) <= 123 && reason.startsWith('éé'), reason);
  });
});
