import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { once } from 'node:events';
import type { AddressInfo, Socket } from 'node:net';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { WebSocket, WebSocketServer } from 'ws';
import {
  CloseCode,
  DATA_CHUNK,
  encodeCodeAndReason,
  encodeFrame,
  encodeU32,
  ErrorCode,
  Flag,
  FrameDecoder,
  FrameType,
  HEADER_SIZE,
  INITIAL_WINDOW,
  MAX_EVENT_PAYLOAD,
  MuxSession,
  ProtocolError,
  SessionClosedError,
  StreamDuplex,
  StreamResetError,
  encodeOpen,
  type Frame,
  type MuxStream,
  type OpenPreamble,
  type RequestHead,
  type RequestEvent,
  type SessionCloseInfo,
  type SessionOptions,
} from '../src/index.js';

const KiB = 1024;
const MiB = 1024 * KiB;
/** Largest WebSocket message the session writer produces (see session.ts). */
const MAX_MESSAGE = 64 * KiB + HEADER_SIZE;
const noop = (): void => {};

type Options = Omit<SessionOptions, 'role'>;

// ---------------------------------------------------------------------------------------------
// Helpers (every wait is bounded; every server and socket is closed by `close()`)
// ---------------------------------------------------------------------------------------------

async function until(cond: () => boolean, what: string, timeoutMs = 3000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await delay(2);
  }
}

/** Waits for `done()`, failing as soon as `progress()` has not changed for `stallMs`. */
async function untilDone(done: () => boolean, progress: () => number, what: string, stallMs = 1000): Promise<void> {
  let last = progress();
  let since = performance.now();
  while (!done()) {
    const now = performance.now();
    const p = progress();
    if (p !== last) {
      last = p;
      since = now;
    } else if (now - since > stallMs) {
      throw new Error(`${what}: stalled for ${stallMs} ms at ${p}`);
    }
    await delay(2);
  }
}

/** Returns once `progress()` has not changed for `quietMs` (at most `timeoutMs`). */
async function untilStalled(progress: () => number, quietMs: number, timeoutMs = 3000): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  let last = progress();
  let since = performance.now();
  while (performance.now() - since < quietMs) {
    if (performance.now() > deadline) throw new Error(`still moving after ${timeoutMs} ms`);
    await delay(2);
    const p = progress();
    if (p !== last) {
      last = p;
      since = performance.now();
    }
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** Reads a stream to its end. */
function collect(stream: StreamDuplex): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    stream.on('data', (c: Buffer) => parts.push(c));
    stream.once('end', () => resolve(Buffer.concat(parts)));
    stream.once('error', reject);
  });
}

/** A byte stream we open (kind tcp), as a Duplex, with a promise for the peer's ACCEPT. */
interface Opened extends StreamDuplex {
  accepted: Promise<void>;
}

function openBytes(session: MuxSession): Opened {
  const mux = session.open({ kind: 'tcp' }, { onStreamData: noop, onStreamClose: noop });
  const stream = new StreamDuplex(mux) as Opened;
  stream.accepted = new Promise<void>((resolve, reject) => {
    (stream as unknown as { onStreamAccept(): void }).onStreamAccept = resolve;
    stream.once('error', reject);
    stream.once('close', () => reject(new Error('closed before it was accepted')));
  });
  stream.accepted.catch(noop);
  return stream;
}

function accepted(stream: Opened): Promise<void> {
  return stream.accepted;
}

/** The error a stream is destroyed with. */
function streamError(stream: StreamDuplex): Promise<Error> {
  return new Promise((resolve) => stream.once('error', resolve));
}

/** Accepts every stream the peer opens on `session` as a byte stream; `use` gets each one. */
function acceptBytes(session: MuxSession, use: (stream: StreamDuplex, mux: MuxStream) => void): void {
  session.on('stream', (mux) => {
    const stream = new StreamDuplex(mux);
    session.accept(mux);
    use(stream, mux);
  });
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

async function listen(): Promise<{ wss: WebSocketServer; url: string }> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  await once(wss, 'listening');
  return { wss, url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}` };
}

async function connect(wss: WebSocketServer, url: string): Promise<{ client: WebSocket; server: WebSocket }> {
  const serverSide = once(wss, 'connection') as Promise<[WebSocket]>;
  const client = new WebSocket(url, { perMessageDeflate: false });
  await withTimeout(once(client, 'open'), 2000, 'the WebSocket to open');
  const [server] = await withTimeout(serverSide, 2000, 'the server connection');
  return { client, server };
}

async function shutdown(wss: WebSocketServer, sockets: WebSocket[], sessions: MuxSession[]): Promise<void> {
  for (const session of sessions) session.destroy();
  for (const ws of [...sockets, ...wss.clients]) ws.terminate();
  await new Promise<void>((resolve) => wss.close(() => resolve()));
}

interface Pair {
  edge: MuxSession;
  connector: MuxSession;
  close(): Promise<void>;
}

/** An edge session (server side) and a connector session (client side) over a real WebSocket. */
async function pair(edgeOptions: Options = {}, connectorOptions: Options = {}): Promise<Pair> {
  const { wss, url } = await listen();
  const { client, server } = await connect(wss, url);
  const edge = new MuxSession(server, { role: 'edge', ...edgeOptions });
  const connector = new MuxSession(client, { role: 'connector', ...connectorOptions });
  return { edge, connector, close: () => shutdown(wss, [client], [edge, connector]) };
}

/** Makes `session` echo every stream it is offered. */
function echo(session: MuxSession): void {
  acceptBytes(session, (stream) => stream.pipe(stream));
}

interface RawPeer {
  /** The MuxSession under test (the edge's side unless asked otherwise). */
  session: MuxSession;
  /** A bare ws client that plays the connector by hand. */
  raw: WebSocket;
  /** The server end of the WebSocket, under `session`. */
  server: WebSocket;
  /** Frames the raw client received, in order (payloads copied). */
  frames: Frame[];
  /** Sizes of the messages the raw client received. */
  messageSizes: number[];
  sessionClosed: Promise<SessionCloseInfo>;
  rawClosed: Promise<{ code: number; reason: string }>;
  send(...frames: Buffer[]): void;
  waitFrame(pred: (f: Frame) => boolean, what: string, timeoutMs?: number): Promise<Frame>;
  close(): Promise<void>;
}

async function rawPeer(options: Options = {}, role: 'edge' | 'connector' = 'edge'): Promise<RawPeer> {
  const { wss, url } = await listen();
  const { client: raw, server } = await connect(wss, url);
  const session = new MuxSession(server, { role, ...options });
  const frames: Frame[] = [];
  const messageSizes: number[] = [];
  raw.on('message', (data: Buffer) => {
    messageSizes.push(data.length);
    new FrameDecoder().write(data, (f) => frames.push({ ...f, payload: Buffer.from(f.payload) }));
  });
  const sessionClosed = (once(session, 'close') as Promise<[SessionCloseInfo]>).then(([info]) => info);
  const rawClosed = (once(raw, 'close') as Promise<[number, Buffer]>).then(([code, reason]) => ({
    code,
    reason: reason.toString(),
  }));
  sessionClosed.catch(noop);
  rawClosed.catch(noop);
  return {
    session,
    raw,
    server,
    frames,
    messageSizes,
    sessionClosed,
    rawClosed,
    send: (...f) => raw.send(Buffer.concat(f)),
    async waitFrame(pred, what, timeoutMs = 2000) {
      await until(() => frames.some(pred), what, timeoutMs);
      return frames.find(pred)!;
    },
    close: () => shutdown(wss, [raw], [session]),
  };
}

/** A connector-side session facing a raw client that plays the edge. */
const rawEdgeSide = (): Promise<RawPeer> => rawPeer({}, 'connector');

const preamble = (p: object): Buffer => Buffer.from(JSON.stringify(p));
const openFrame = (id: number): Buffer => encodeFrame(FrameType.OPEN, 0, id, encodeOpen({ kind: 'tcp' }));
const dataFrame = (id: number, payload: Buffer): Buffer => encodeFrame(FrameType.DATA, 0, id, payload);
const pingFrame = (flags: number, payload: Buffer): Buffer => encodeFrame(FrameType.PING, flags, 0, payload);

// ---------------------------------------------------------------------------------------------
// Streams
// ---------------------------------------------------------------------------------------------

describe('session: streams', () => {
  it('opens, accepts and echoes data in both directions with parity-correct ids', async () => {
    const p = await pair();
    try {
      const offered: Array<[number, OpenPreamble]> = [];
      p.edge.on('stream', (s, pre) => void offered.push([s.id, pre]));
      p.connector.on('stream', (s, pre) => void offered.push([s.id, pre]));
      echo(p.edge);
      echo(p.connector);

      const fromEdge = [openBytes(p.edge), openBytes(p.edge)];
      const fromConnector = [openBytes(p.connector), openBytes(p.connector)];
      assert.deepEqual(fromEdge.map((s) => s.stream.id), [1, 3]);
      assert.deepEqual(fromConnector.map((s) => s.stream.id), [2, 4]);

      const results = await withTimeout(
        Promise.all(
          [...fromEdge, ...fromConnector].map(async (s, i) => {
            await accepted(s);
            const body = Buffer.from(`message ${i} `.repeat(1000 * (i + 1)));
            const reply = collect(s);
            s.end(body);
            return [body, await reply] as const;
          }),
        ),
        3000,
        'the echoes',
      );
      for (const [sent, got] of results) assert.equal(sha256(got), sha256(sent));
      assert.deepEqual(
        offered.sort((a, b) => a[0] - b[0]).map(([id, pre]) => [id, pre.kind]),
        [
          [1, 'tcp'],
          [2, 'tcp'],
          [3, 'tcp'],
          [4, 'tcp'],
        ],
      );
      // Both FINs seen and both sides done: the streams are gone from both sessions.
      await until(() => p.edge.activeStreams === 0 && p.connector.activeStreams === 0, 'the streams to close');
    } finally {
      await p.close();
    }
  });

  it('carries a request head in OPEN and the answer head in RESPONSE, with FIN riding on the last frame', async () => {
    const peer = await rawPeer();
    try {
      const request: RequestHead = { method: 'GET', target: '/a?b=c', headers: ['host', 'app.test', 'x-bytes', '\xe9\xff'] };
      const heads: unknown[] = [];
      const body: Buffer[] = [];
      let ended = false;
      let closed: Error | undefined | 'open' = 'open';
      const mux = peer.session.open({ kind: 'http', request }, {
        onStreamHead: (head) => void heads.push(head),
        onStreamData: (chunk, last) => {
          body.push(Buffer.from(chunk));
          if (last) ended = true;
        },
        onStreamClose: (err) => void (closed = err),
      }, true);
      const open = await peer.waitFrame((f) => f.type === FrameType.OPEN, 'the OPEN');
      assert.equal(open.streamId, mux.id);
      assert.equal(open.flags, Flag.FIN, 'a request without a body is one frame');
      // Header bytes travel as they are (latin1: one character, one byte).
      assert.equal(open.payload.toString('latin1'), '\x01:method\0GET\0:target\0/a?b=c\0host\0app.test\0x-bytes\0\xe9\xff');

      peer.send(
        encodeFrame(FrameType.RESPONSE, 0, mux.id, Buffer.from(':status\x00200\x00content-type\x00text/plain\x00set-cookie\x00a=1\x00set-cookie\x00b=2', 'latin1')),
        encodeFrame(FrameType.DATA, Flag.FIN, mux.id, Buffer.from('hello')),
      );
      await until(() => ended && closed !== 'open', 'the answer');
      assert.deepEqual(heads, [{ status: 200, headers: ['content-type', 'text/plain', 'set-cookie', 'a=1', 'set-cookie', 'b=2'] }]);
      assert.equal(Buffer.concat(body).toString(), 'hello');
      assert.equal(closed, undefined, 'both directions ended: a clean close');
      assert.equal(peer.session.activeStreams, 0);
    } finally {
      await peer.close();
    }
  });

  it('hands the acceptor the request head and whether a body follows; its answer goes out as RESPONSE then DATA|FIN', async () => {
    const p = await pair();
    try {
      const seen: Array<[OpenPreamble, boolean]> = [];
      p.connector.on('stream', (mux, pre, ended) => {
        seen.push([pre, ended]);
        const parts: Buffer[] = [];
        mux.attach({
          onStreamData: (chunk, last) => {
            parts.push(Buffer.from(chunk));
            mux.consumed(chunk.length);
            if (!last) return;
            mux.respond({ status: 201, headers: ['x-got', String(Buffer.concat(parts).length)] });
            mux.write(Buffer.from('created'));
            mux.end();
          },
          onStreamClose: noop,
        });
      });
      const answers: Array<{ status: number; body: string }> = [];
      for (const withBody of [false, true]) {
        const chunks: Buffer[] = [];
        let status = 0;
        const done = new Promise<void>((resolve, reject) => {
          const mux = p.edge.open({ kind: 'http', request: { method: withBody ? 'POST' : 'GET', target: '/', headers: [] } }, {
            onStreamHead: (head) => void (status = head.status),
            onStreamData: (chunk, last) => {
              chunks.push(Buffer.from(chunk));
              if (last) resolve();
            },
            onStreamClose: (err) => (err ? reject(err) : undefined),
          }, !withBody);
          if (withBody) {
            mux.write(Buffer.alloc(1000, 0x61));
            mux.end();
          }
        });
        await withTimeout(done, 2000, 'the answer');
        answers.push({ status, body: Buffer.concat(chunks).toString() });
      }
      assert.deepEqual(seen.map(([pre, ended]) => [pre.kind === 'tcp' ? '' : pre.request.method, ended]), [['GET', true], ['POST', false]]);
      assert.deepEqual(answers, [{ status: 201, body: 'created' }, { status: 201, body: 'created' }]);
      await until(() => p.edge.activeStreams === 0 && p.connector.activeStreams === 0, 'the streams to close');
    } finally {
      await p.close();
    }
  });

  it('merges FIN into the RESPONSE of an answer without a body', async () => {
    const peer = await rawEdgeSide();
    try {
      peer.session.on('stream', (mux) => {
        mux.attach({ onStreamData: noop, onStreamClose: noop });
        mux.respond({ status: 204, headers: [] });
        mux.end();
      });
      peer.send(encodeFrame(FrameType.OPEN, Flag.FIN, 1, encodeOpen({ kind: 'http', request: { method: 'DELETE', target: '/x', headers: [] } })));
      const response = await peer.waitFrame((f) => f.type === FrameType.RESPONSE, 'the RESPONSE');
      assert.equal(response.flags, Flag.FIN);
      assert.equal(response.payload.toString(), ':status\x00204');
      await delay(20);
      assert.deepEqual(peer.frames.filter((f) => f.streamId === 1).map((f) => f.type), [FrameType.RESPONSE], 'no separate FIN frame');
    } finally {
      await peer.close();
    }
  });

  it('half-closes each direction on its own (FIN from either side first)', async () => {
    const p = await pair();
    try {
      const log: string[] = [];
      acceptBytes(p.connector, (s, mux) => {
        s.on('error', (err) => log.push(`connector error ${err.message}`));
        if (mux.id === 1) {
          // Edge ends first; the connector answers after it saw the end of the request.
          collect(s).then((req) => {
            log.push(`connector got ${req}`);
            s.write('reply after your FIN ');
            setTimeout(() => s.end('and done'), 20);
          }, noop);
        } else {
          // Connector ends first, then keeps reading what the edge still sends.
          s.end('early answer');
          collect(s).then((req) => log.push(`connector got ${req}`), noop);
        }
      });

      const a = openBytes(p.edge);
      a.on('error', (err) => log.push(`edge error ${err.message}`));
      const aReply = collect(a);
      a.end('request A');

      const b = openBytes(p.edge);
      b.on('error', (err) => log.push(`edge error ${err.message}`));
      const bReply = await withTimeout(collect(b), 2000, 'the early answer');
      assert.equal(bReply.toString(), 'early answer');
      assert.equal(b.writable, true, 'our direction is still open after the peer FIN');
      b.write('written after ');
      b.end('the peer FIN');

      assert.equal((await withTimeout(aReply, 2000, 'reply A')).toString(), 'reply after your FIN and done');
      await until(() => log.length >= 2, 'the connector to read both requests');
      assert.deepEqual(log.sort(), ['connector got request A', 'connector got written after the peer FIN']);
      await until(() => p.edge.activeStreams === 0 && p.connector.activeStreams === 0, 'the streams to close');
      assert.deepEqual(log.filter((l) => l.includes('error')), []);
    } finally {
      await p.close();
    }
  });

  it('propagates a RESET to the peer as a StreamResetError with its code', async () => {
    const p = await pair();
    try {
      const peers: StreamDuplex[] = [];
      acceptBytes(p.connector, (s) => void peers.push(s));

      // Connector side cancels: the edge stream fails with CANCEL, by peer.
      const a = openBytes(p.edge);
      await withTimeout(accepted(a), 2000, 'accept');
      const aErr = streamError(a);
      peers[0]!.destroy();
      const errA = await withTimeout(aErr, 2000, 'the reset');
      assert.ok(errA instanceof StreamResetError);
      assert.equal(errA.code, ErrorCode.CANCEL);
      assert.equal(errA.byPeer, true);

      // Edge side fails with a specific code: the connector stream sees that code.
      const b = openBytes(p.edge);
      await withTimeout(accepted(b), 2000, 'accept');
      const bErr = streamError(peers[1]!);
      b.destroy(new StreamResetError(ErrorCode.TARGET_UNREACHABLE, 'connect ECONNREFUSED 127.0.0.1:3000', false));
      const errB = await withTimeout(bErr, 2000, 'the reset');
      assert.ok(errB instanceof StreamResetError);
      assert.equal(errB.code, ErrorCode.TARGET_UNREACHABLE);
      assert.equal(errB.reason, 'connect ECONNREFUSED 127.0.0.1:3000');
      assert.equal(errB.byPeer, true);

      // No 'stream' listener: the OPEN is refused, and the opener's stream fails with REFUSED_STREAM.
      p.connector.removeAllListeners('stream');
      const c = openBytes(p.edge);
      const refused = await withTimeout(streamError(c), 2000, 'the refusal');
      assert.ok(refused instanceof StreamResetError);
      assert.equal(refused.code, ErrorCode.REFUSED_STREAM);

      await until(() => p.edge.activeStreams === 0 && p.connector.activeStreams === 0, 'the streams to close');
      assert.equal(p.edge.closed, false, 'stream errors do not end the session');
    } finally {
      await p.close();
    }
  });

  it("a handler that throws ends its own stream (RESET INTERNAL_ERROR to the peer), not the session or the other streams", async () => {
    const p = await pair();
    try {
      echo(p.connector);
      const bystander = openBytes(p.edge);
      await withTimeout(accepted(bystander), 2000, 'accept');
      let closedWith: Error | undefined;
      const mux = p.edge.open({ kind: 'tcp' }, {
        onStreamAccept: () => {
          throw new Error('boom in a handler');
        },
        onStreamData: noop,
        onStreamClose: (err) => void (closedWith = err),
      });
      await until(() => closedWith !== undefined, 'the failing stream to close');
      assert.ok(closedWith instanceof StreamResetError);
      assert.equal(closedWith.code, ErrorCode.INTERNAL_ERROR);
      assert.match(closedWith.reason, /boom in a handler/);
      assert.equal(mux.closed, true);
      assert.equal(p.edge.closed, false, 'the session lives on');
      const echoed = collect(bystander);
      bystander.end('still here');
      assert.equal(String(await withTimeout(echoed, 2000, 'the echo')), 'still here');
    } finally {
      await p.close();
    }
  });

  it('a stream reset before its OPEN left sends nothing at all', async () => {
    const peer = await rawPeer();
    try {
      const mux = peer.session.open({ kind: 'tcp' }, { onStreamData: noop, onStreamClose: noop });
      mux.reset();
      const probe = Buffer.from('0011223344556677', 'hex');
      peer.send(pingFrame(0, probe));
      await peer.waitFrame((f) => f.type === FrameType.PING && (f.flags & Flag.ACK) !== 0, 'the PING answer');
      assert.deepEqual(peer.frames.filter((f) => f.streamId === mux.id), []);
      assert.equal(peer.session.activeStreams, 0);
    } finally {
      await peer.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Back-pressure
// ---------------------------------------------------------------------------------------------

/** Writes `data` to `stream` in 64 KiB writes, honouring write() === false; returns bytes handed over so far. */
function produce(stream: StreamDuplex, data: Buffer): { handed: () => number } {
  let offset = 0;
  const pump = (): void => {
    while (offset < data.length) {
      const chunk = data.subarray(offset, offset + 64 * KiB);
      offset += chunk.length;
      if (!stream.write(chunk)) {
        stream.once('drain', pump);
        return;
      }
    }
    stream.end();
  };
  pump();
  return { handed: () => offset };
}

describe('session: back-pressure', () => {
  it('a stream whose consumer does not read stays bounded, then delivers every byte once it reads', async () => {
    const p = await pair();
    try {
      let peer: StreamDuplex | undefined;
      acceptBytes(p.connector, (s) => {
        peer = s; // not read: stays paused
      });
      const data = randomBytes(4 * MiB);
      const s = openBytes(p.edge);
      s.on('error', noop);
      const producer = produce(s, data);

      // Let it run until nothing moves any more.
      let maxQueued = 0;
      let maxBuffered = 0;
      let maxWritable = 0;
      const sample = (): number => {
        maxQueued = Math.max(maxQueued, p.edge.queuedBytes);
        maxBuffered = Math.max(maxBuffered, peer?.readableLength ?? 0);
        maxWritable = Math.max(maxWritable, s.writableLength);
        return (peer?.readableLength ?? 0) + producer.handed();
      };
      await until(() => (peer?.readableLength ?? 0) > 0, 'the first bytes');
      await untilStalled(sample, 150);
      sample();

      assert.equal(peer!.readableLength, INITIAL_WINDOW, 'the sender stops exactly at the window');
      assert.ok(maxBuffered <= INITIAL_WINDOW, `peer buffered ${maxBuffered}`);
      assert.ok(maxQueued <= 256 * KiB + MAX_MESSAGE, `session queued ${maxQueued}`);
      assert.ok(maxWritable <= 64 * KiB, `stream write buffer held ${maxWritable}`);
      assert.ok(
        producer.handed() <= INITIAL_WINDOW + 64 * KiB + 64 * KiB,
        `the producer was let to write ${producer.handed()} bytes`,
      );

      // Now read: everything arrives, intact.
      const hash = createHash('sha256');
      let got = 0;
      let ended = false;
      peer!.on('data', (c: Buffer) => {
        hash.update(c);
        got += c.length;
      });
      peer!.on('end', () => (ended = true));
      await untilDone(() => ended, () => got, 'reading after the pause');
      assert.equal(got, data.length);
      assert.equal(hash.digest('hex'), sha256(data));
    } finally {
      await p.close();
    }
  });

  it('a consumer behind a slow pipe gets every byte, with its buffer within the window', async () => {
    const p = await pair();
    try {
      const data = randomBytes(4 * MiB);
      const hash = createHash('sha256');
      let got = 0;
      let maxOverWindow = -Infinity;
      let done = false;
      acceptBytes(p.connector, (s) => {
        const slow = new Writable({
          highWaterMark: 16 * KiB,
          write(chunk: Buffer, _enc, cb) {
            hash.update(chunk);
            got += chunk.length;
            maxOverWindow = Math.max(maxOverWindow, s.readableLength - s.stream.receiveWindow);
            setImmediate(cb);
          },
        });
        pipeline(s, slow).then(() => (done = true), noop);
      });
      const s = openBytes(p.edge);
      s.on('error', noop);
      produce(s, data);
      await untilDone(() => done, () => got, 'piping into a slow writable');
      assert.equal(got, data.length);
      assert.equal(hash.digest('hex'), sha256(data));
      assert.ok(maxOverWindow <= 0, `buffered ${maxOverWindow} bytes beyond the window`);
    } finally {
      await p.close();
    }
  });

  it('bounds what the session queues when the peer stops reading its socket', async () => {
    const highWaterMark = 256 * KiB;
    const peer = await rawPeer({ highWaterMark });
    try {
      // The raw client never reads: its kernel buffers fill, then the session's queue must stop growing.
      (peer.raw as unknown as { _socket: Socket })._socket.pause();
      // 64 windows of 256 KiB: more than loopback socket buffers of a reader that never reads absorb.
      const streams = Array.from({ length: 64 }, () => openBytes(peer.session));
      const chunk = Buffer.alloc(64 * KiB, 0x61);
      let handed = 0;
      for (const s of streams) {
        s.on('error', noop);
        const pump = (): void => {
          for (let i = 0; i < 8; i++) {
            handed += chunk.length;
            if (!s.write(chunk)) return void s.once('drain', pump);
          }
        };
        pump();
      }
      let maxQueued = 0;
      let maxBuffered = 0;
      const sample = (): number => {
        maxQueued = Math.max(maxQueued, peer.session.queuedBytes);
        maxBuffered = Math.max(maxBuffered, peer.server.bufferedAmount);
        return handed + peer.session.queuedBytes;
      };
      await untilStalled(sample, 200);
      sample();
      assert.ok(maxQueued >= highWaterMark / 2, `the queue never filled (${maxQueued} bytes): the bound was not exercised`);
      assert.ok(maxQueued <= highWaterMark + MAX_MESSAGE, `session queued ${maxQueued} bytes`);
      assert.ok(maxBuffered <= highWaterMark + MAX_MESSAGE, `ws.bufferedAmount reached ${maxBuffered}`);
      // Per stream: at most its window went out, plus the stream's own write buffer.
      assert.ok(handed <= streams.length * (INITIAL_WINDOW + 2 * 64 * KiB), `producers wrote ${handed} bytes`);
      assert.equal(peer.session.closed, false);
    } finally {
      await peer.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Fairness
// ---------------------------------------------------------------------------------------------

describe('session: fairness', () => {
  it('interleaves ready streams round-robin in DATA chunks of at most 16 KiB, in messages of at most 64 KiB', async () => {
    const peer = await rawPeer();
    try {
      const a = openBytes(peer.session);
      const b = openBytes(peer.session);
      a.on('error', noop);
      b.on('error', noop);
      // Both become ready in the same tick; neither is ever granted more than the initial window.
      a.write(Buffer.alloc(INITIAL_WINDOW, 0x61));
      b.write(Buffer.alloc(INITIAL_WINDOW, 0x62));
      const dataOf = (): Frame[] => peer.frames.filter((f) => f.type === FrameType.DATA);
      await until(
        () => dataOf().reduce((n, f) => n + f.payload.length, 0) === 2 * INITIAL_WINDOW,
        'both windows worth of DATA',
      );
      const data = dataOf();
      assert.ok(data.every((f) => f.payload.length <= DATA_CHUNK && f.payload.length > 0));
      assert.ok(peer.messageSizes.every((n) => n <= MAX_MESSAGE), `message sizes ${peer.messageSizes}`);
      // Strict alternation while both have credit and data.
      const ids = data.map((f) => f.streamId);
      const firstDone = Math.min(ids.lastIndexOf(a.stream.id), ids.lastIndexOf(b.stream.id));
      for (let i = 1; i <= firstDone; i++) assert.notEqual(ids[i], ids[i - 1], `two chunks in a row for stream ${ids[i]} at ${i}`);
      // OPEN frames (control) went out before any DATA.
      const firstData = peer.frames.findIndex((f) => f.type === FrameType.DATA);
      const opens = peer.frames.map((f, i) => [f.type, i] as const).filter(([t]) => t === FrameType.OPEN);
      assert.equal(opens.length, 2);
      assert.ok(opens.every(([, i]) => i < firstData));
    } finally {
      await peer.close();
    }
  });

  it('lets a lone stream fill a message with one large DATA frame, and interleaves in 16 KiB once another is ready', async () => {
    const peer = await rawPeer();
    try {
      const a = openBytes(peer.session);
      a.write(Buffer.alloc(INITIAL_WINDOW, 0x61));
      const dataOf = (id: number): Frame[] => peer.frames.filter((f) => f.type === FrameType.DATA && f.streamId === id);
      await until(() => dataOf(a.stream.id).reduce((n, f) => n + f.payload.length, 0) === INITIAL_WINDOW, 'the lone stream\'s window');
      const lone = dataOf(a.stream.id).map((f) => f.payload.length);
      assert.ok(Math.max(...lone) > DATA_CHUNK, `a lone stream used frames of at most ${Math.max(...lone)} bytes`);
      assert.ok(lone.length <= Math.ceil(INITIAL_WINDOW / (60 * KiB)), `${lone.length} frames for one window`);
      assert.ok(peer.messageSizes.every((n) => n <= MAX_MESSAGE), `message sizes ${peer.messageSizes}`);
    } finally {
      await peer.close();
    }
  });

  it('small round trips complete while a large bulk transfer runs on another stream', async () => {
    // The bulk stream's window bounds how much of it can sit in socket buffers ahead of a small frame:
    // with a 1 MiB cap each round trip waits behind at most about 1 MiB of bulk.
    const maxWindow = 1 * MiB;
    const highWaterMark = 256 * KiB;
    const p = await pair({ maxWindow, highWaterMark }, { maxWindow, highWaterMark });
    try {
      const BULK = 200 * MiB;
      let bulkGot = 0;
      let order = 0;
      acceptBytes(p.connector, (s) => {
        if (order++ === 0) s.on('data', (c: Buffer) => void (bulkGot += c.length)); // fast sink
        else s.pipe(s); // echo
      });

      const bulk = openBytes(p.edge);
      bulk.on('error', noop);
      const block = Buffer.alloc(64 * KiB, 0x42);
      let bulkSent = 0;
      const pump = (): void => {
        while (bulkSent < BULK) {
          bulkSent += block.length;
          if (!bulk.write(block)) return void bulk.once('drain', pump);
        }
        bulk.end();
      };
      pump();
      await until(() => bulkGot >= 2 * MiB, 'the bulk transfer to get going');

      const rr = openBytes(p.edge);
      rr.on('error', noop);
      let replies = Buffer.alloc(0);
      rr.on('data', (c: Buffer) => void (replies = Buffer.concat([replies, c])));
      const bulkBefore = bulkGot;
      let trips = 0;
      for (; trips < 50; trips++) {
        const request = Buffer.from(`request ${String(trips).padStart(4, '0')}`);
        const want = replies.length + request.length;
        rr.write(request);
        await until(() => replies.length >= want || bulkGot >= BULK, `round trip ${trips}`, 5000);
        if (bulkGot >= BULK) break;
        assert.equal(replies.subarray(want - request.length, want).toString(), request.toString());
      }
      const bulkDuring = bulkGot - bulkBefore;
      assert.equal(trips, 50, `only ${trips} round trips finished before the bulk transfer did`);
      assert.ok(bulkGot < BULK, 'the bulk transfer was still running');
      assert.ok(bulkDuring > 0, 'the bulk transfer kept moving during the round trips');
      // On average a round trip waited behind no more than about two windows plus the writer's queue.
      assert.ok(
        bulkDuring / trips <= 2 * (maxWindow + highWaterMark + MAX_MESSAGE),
        `${(bulkDuring / trips / KiB).toFixed(0)} KiB of bulk per round trip`,
      );
      bulk.destroy();
    } finally {
      await p.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Malformed input
// ---------------------------------------------------------------------------------------------

interface BadInput {
  name: string;
  send: (peer: RawPeer) => void | Promise<void>;
  code: ErrorCode;
  closeCode: number;
}

const BAD_INPUT: BadInput[] = [
  {
    name: 'a text message',
    send: (p) => p.raw.send('hello'),
    code: ErrorCode.PROTOCOL_ERROR,
    closeCode: CloseCode.PROTOCOL_ERROR,
  },
  {
    name: 'a truncated frame (message ends inside the payload)',
    send: (p) => p.send(encodeFrame(FrameType.DATA, 0, 2, Buffer.alloc(10)).subarray(0, HEADER_SIZE + 5)),
    code: ErrorCode.FRAME_SIZE_ERROR,
    closeCode: CloseCode.PROTOCOL_ERROR,
  },
  {
    name: 'a truncated header',
    send: (p) => p.send(openFrame(2).subarray(0, 7)),
    code: ErrorCode.FRAME_SIZE_ERROR,
    closeCode: CloseCode.PROTOCOL_ERROR,
  },
  {
    name: 'an unknown frame type',
    send: (p) => p.send(encodeFrame(0x0c as FrameType, 0, 2)),
    code: ErrorCode.PROTOCOL_ERROR,
    closeCode: CloseCode.PROTOCOL_ERROR,
  },
  {
    name: 'DATA for a stream id the peer never opened',
    send: (p) => p.send(dataFrame(4, Buffer.from('x'))),
    code: ErrorCode.PROTOCOL_ERROR,
    closeCode: CloseCode.PROTOCOL_ERROR,
  },
  {
    name: 'a WINDOW for a stream id this side never opened',
    send: (p) => p.send(encodeFrame(FrameType.WINDOW, 0, 1, encodeU32(10))),
    code: ErrorCode.PROTOCOL_ERROR,
    closeCode: CloseCode.PROTOCOL_ERROR,
  },
  {
    name: 'an OPEN with the wrong parity',
    send: (p) => p.send(openFrame(3)),
    code: ErrorCode.PROTOCOL_ERROR,
    closeCode: CloseCode.PROTOCOL_ERROR,
  },
  {
    name: 'a reused stream id',
    send: (p) => p.send(openFrame(4), openFrame(2)),
    code: ErrorCode.PROTOCOL_ERROR,
    closeCode: CloseCode.PROTOCOL_ERROR,
  },
  {
    name: 'a RESPONSE on a stream the peer opened',
    send: (p) => p.send(openFrame(2), encodeFrame(FrameType.RESPONSE, 0, 2, Buffer.from(':status\x00200'))),
    code: ErrorCode.PROTOCOL_ERROR,
    closeCode: CloseCode.PROTOCOL_ERROR,
  },
  {
    name: 'a RESPONSE to a tcp stream',
    send: async (p) => {
      const mine = p.session.open({ kind: 'tcp' }, { onStreamData: noop, onStreamClose: noop });
      await p.waitFrame((f) => f.type === FrameType.OPEN, 'the OPEN');
      p.send(encodeFrame(FrameType.RESPONSE, 0, mine.id, Buffer.from(':status\x00200')));
    },
    code: ErrorCode.PROTOCOL_ERROR,
    closeCode: CloseCode.PROTOCOL_ERROR,
  },
  {
    name: 'a HELLO sent to the edge',
    send: (p) => p.send(encodeFrame(FrameType.HELLO, 0, 0, preamble({ v: 1 }))),
    code: ErrorCode.PROTOCOL_ERROR,
    closeCode: CloseCode.PROTOCOL_ERROR,
  },
  {
    name: 'an EVENT sent to the edge',
    send: (p) => p.send(encodeFrame(FrameType.EVENT, 0, 0, preamble({ t: 'request' }))),
    code: ErrorCode.PROTOCOL_ERROR,
    closeCode: CloseCode.PROTOCOL_ERROR,
  },
  {
    name: 'more DATA than the window',
    send: (p) => {
      p.send(openFrame(2));
      const chunk = Buffer.alloc(DATA_CHUNK, 0x78);
      for (let i = 0; i < INITIAL_WINDOW / DATA_CHUNK; i++) p.send(dataFrame(2, chunk));
      p.send(dataFrame(2, Buffer.from('!')));
    },
    code: ErrorCode.FLOW_CONTROL_ERROR,
    closeCode: CloseCode.PROTOCOL_ERROR,
  },
  {
    name: 'DATA after FIN',
    send: (p) => p.send(openFrame(2), encodeFrame(FrameType.FIN, 0, 2), dataFrame(2, Buffer.from('late'))),
    code: ErrorCode.STREAM_CLOSED,
    closeCode: CloseCode.PROTOCOL_ERROR,
  },
  {
    name: 'a zero WINDOW increment',
    send: (p) => p.send(openFrame(2), encodeFrame(FrameType.WINDOW, 0, 2, encodeU32(0))),
    code: ErrorCode.FLOW_CONTROL_ERROR,
    closeCode: CloseCode.PROTOCOL_ERROR,
  },
  {
    name: 'a WINDOW increment that overflows the credit',
    send: (p) => p.send(openFrame(2), encodeFrame(FrameType.WINDOW, 0, 2, encodeU32(0x7fff_ffff))),
    code: ErrorCode.FLOW_CONTROL_ERROR,
    closeCode: CloseCode.PROTOCOL_ERROR,
  },
  {
    name: 'a frame of protocol version 1',
    send: (p) => {
      const f = Buffer.from(pingFrame(0, Buffer.alloc(8)));
      f[0] = 1;
      p.send(f);
    },
    code: ErrorCode.VERSION_MISMATCH,
    closeCode: CloseCode.VERSION_MISMATCH,
  },
];

describe('session: malformed input closes the session with a ProtocolError', () => {
  for (const c of BAD_INPUT) {
    it(`${c.name} → ${c.closeCode}`, async () => {
      const peer = await rawPeer();
      try {
        peer.session.on('stream', (s) => s.attach({ onStreamData: noop, onStreamClose: noop })); // accept OPENs, never read
        await c.send(peer);
        const info = await withTimeout(peer.sessionClosed, 2000, 'the session to close');
        assert.equal(info.code, c.closeCode);
        assert.ok(info.error instanceof ProtocolError, `close carried ${String(info.error)}`);
        assert.equal(info.error.code, c.code, info.error.message);
        assert.equal(peer.session.closed, true);
        const raw = await withTimeout(peer.rawClosed, 2000, 'the raw client to see the close');
        assert.equal(raw.code, c.closeCode);
        // The peer was told why in a GOAWAY carrying the code, before the close.
        const goaway = peer.frames.find((f) => f.type === FrameType.GOAWAY);
        assert.ok(goaway, 'a GOAWAY frame before the close');
        assert.equal(goaway.payload.readUInt32BE(0), c.code);
      } finally {
        await peer.close();
      }
    });
  }

  it('fails the streams of a session that closes on a protocol error', async () => {
    const peer = await rawPeer();
    try {
      const s = openBytes(peer.session);
      const err = streamError(s);
      peer.raw.send('not a frame');
      const e = await withTimeout(err, 2000, 'the stream to fail');
      assert.ok(e instanceof ProtocolError);
      assert.equal(peer.session.activeStreams, 0);
    } finally {
      await peer.close();
    }
  });

  it('ignores frames for streams that were closed', async () => {
    const peer = await rawPeer();
    try {
      peer.session.on('stream', (s) => {
        s.attach({ onStreamData: noop, onStreamClose: noop });
        s.reset(); // answered with RESET CANCEL
      });
      peer.send(openFrame(2));
      const reset = await peer.waitFrame((f) => f.type === FrameType.RESET && f.streamId === 2, 'the RESET');
      assert.equal(reset.payload.readUInt32BE(0), ErrorCode.CANCEL);
      // Frames racing the reset are ignored, not errors.
      peer.send(
        dataFrame(2, Buffer.from('late data')),
        encodeFrame(FrameType.WINDOW, 0, 2, encodeU32(100)),
        encodeFrame(FrameType.ACCEPT, 0, 2),
        encodeFrame(FrameType.FIN, 0, 2),
        encodeFrame(FrameType.RESET, 0, 2, encodeCodeAndReason(ErrorCode.CANCEL, '')),
      );
      // Same for a stream this side opened and then reset.
      const mine = openBytes(peer.session);
      const id = mine.stream.id;
      await peer.waitFrame((f) => f.type === FrameType.OPEN && f.streamId === id, 'our OPEN');
      mine.destroy();
      await peer.waitFrame((f) => f.type === FrameType.RESET && f.streamId === id, 'our RESET');
      peer.send(dataFrame(id, Buffer.from('late')), encodeFrame(FrameType.FIN, 0, id));
      // The session is alive: it still answers a PING.
      const probe = Buffer.from('0011223344556677', 'hex');
      peer.send(pingFrame(0, probe));
      await peer.waitFrame((f) => f.type === FrameType.PING && (f.flags & Flag.ACK) !== 0 && f.payload.equals(probe), 'the PING answer');
      assert.equal(peer.session.closed, false);
    } finally {
      await peer.close();
    }
  });

  it('answers an unsupported preamble with a stream RESET, keeping the session', async () => {
    const peer = await rawPeer();
    try {
      let offered = 0;
      peer.session.on('stream', () => void offered++);
      peer.send(encodeFrame(FrameType.OPEN, 0, 2, Buffer.from([9]))); // an unknown kind
      peer.send(encodeFrame(FrameType.OPEN, 0, 4, Buffer.from('\x01:method\x00GET', 'latin1'))); // no :target
      peer.send(encodeFrame(FrameType.OPEN, 0, 6, Buffer.from('\x01:method\x00GET\x00:target\x00/\x00x\x00a\r\nb', 'latin1')));
      peer.send(encodeFrame(FrameType.OPEN, 0, 8, Buffer.from('\x01:method\x00GET\x00:target\x00/\x00odd', 'latin1')));
      for (const id of [2, 4, 6, 8]) {
        const reset = await peer.waitFrame((f) => f.type === FrameType.RESET && f.streamId === id, `RESET ${id}`);
        assert.equal(reset.payload.readUInt32BE(0), ErrorCode.PROTOCOL_ERROR);
      }
      assert.equal(offered, 0);
      assert.equal(peer.session.closed, false);
    } finally {
      await peer.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Go-away, ping, dead link
// ---------------------------------------------------------------------------------------------

describe('session: go-away', () => {
  it('stops open() on the peer while existing streams carry on', async () => {
    const p = await pair();
    try {
      echo(p.edge);
      const before = openBytes(p.connector);
      await withTimeout(accepted(before), 2000, 'accept');
      const goaway = once(p.connector, 'goaway') as Promise<[number, string]>;
      p.edge.goAway();
      const [code, reason] = await withTimeout(goaway, 2000, 'the goaway event');
      assert.equal(code, ErrorCode.NO_ERROR);
      assert.equal(reason, 'draining');
      assert.equal(p.connector.peerDraining, true);
      assert.equal(p.edge.state, 'draining');
      assert.throws(() => p.connector.open({ kind: 'tcp' }, { onStreamData: noop, onStreamClose: noop }), SessionClosedError);
      // The stream opened before the go-away still works.
      const reply = collect(before);
      before.end('still here');
      assert.equal((await withTimeout(reply, 2000, 'the echo')).toString(), 'still here');
      // The edge itself may still open streams.
      echo(p.connector);
      const fromEdge = openBytes(p.edge);
      await withTimeout(accepted(fromEdge), 2000, 'accept');
      fromEdge.destroy();
    } finally {
      await p.close();
    }
  });

  it('refuses an OPEN that arrives after our GOAWAY', async () => {
    const peer = await rawPeer();
    try {
      let offered = 0;
      peer.session.on('stream', () => void offered++);
      peer.session.goAway(ErrorCode.NO_ERROR, 'shutting down');
      const goaway = await peer.waitFrame((f) => f.type === FrameType.GOAWAY, 'the GOAWAY');
      assert.deepEqual([goaway.payload.readUInt32BE(0), goaway.payload.subarray(4).toString()], [0, 'shutting down']);
      peer.send(openFrame(2));
      const reset = await peer.waitFrame((f) => f.type === FrameType.RESET && f.streamId === 2, 'the refusal');
      assert.equal(reset.payload.readUInt32BE(0), ErrorCode.REFUSED_STREAM);
      assert.equal(offered, 0);
    } finally {
      await peer.close();
    }
  });

  it('close() flushes what is queued and closes with 1000', async () => {
    const peer = await rawPeer();
    try {
      peer.session.goAway();
      peer.session.close();
      assert.throws(() => peer.session.open({ kind: 'tcp' }, { onStreamData: noop, onStreamClose: noop }), SessionClosedError);
      const raw = await withTimeout(peer.rawClosed, 2000, 'the close');
      assert.equal(raw.code, CloseCode.NORMAL);
      assert.ok(peer.frames.some((f) => f.type === FrameType.GOAWAY), 'the queued GOAWAY went out first');
      const info = await peer.sessionClosed;
      assert.equal(info.code, CloseCode.NORMAL);
      assert.equal(info.error, undefined);
    } finally {
      await peer.close();
    }
  });
});

describe('session: ping and dead link', () => {
  it('answers a PING with an ACK carrying the same payload', async () => {
    const peer = await rawPeer();
    try {
      const probe = Buffer.from('fedcba9876543210', 'hex');
      peer.send(pingFrame(0, probe));
      await peer.waitFrame((f) => f.type === FrameType.PING && f.flags === Flag.ACK && f.payload.equals(probe), 'the answer');
    } finally {
      await peer.close();
    }
  });

  it('measures the round trip from PING answers', async () => {
    const peer = await rawPeer({ pingIntervalMs: 5000 });
    try {
      // Answer the session's first PING 60 ms late.
      const ping = await peer.waitFrame((f) => f.type === FrameType.PING && f.flags === 0, 'the first PING');
      assert.equal(peer.session.rttMs, 1);
      await delay(60);
      peer.send(pingFrame(Flag.ACK, ping.payload));
      await until(() => peer.session.rttMs !== 1, 'the RTT to update');
      // Smoothed: 0.75 × 1 ms + 0.25 × ≥60 ms.
      assert.ok(peer.session.rttMs >= 0.75 + 0.25 * 60 - 0.01, `rtt ${peer.session.rttMs}`);
      assert.ok(peer.session.rttMs < 1000, `rtt ${peer.session.rttMs}`);
      // An answer that does not match a plausible time is ignored.
      const before = peer.session.rttMs;
      const bogus = Buffer.alloc(8);
      bogus.writeDoubleBE(-1e12, 0);
      peer.send(pingFrame(Flag.ACK, bogus));
      await delay(20);
      assert.equal(peer.session.rttMs, before);
    } finally {
      await peer.close();
    }
  });

  it('two live sessions with short ping intervals measure their RTT and stay up', async () => {
    const opts = { pingIntervalMs: 20, deadAfterMs: 100 };
    const p = await pair(opts, opts);
    try {
      await delay(300);
      assert.equal(p.edge.closed, false);
      assert.equal(p.connector.closed, false);
      for (const s of [p.edge, p.connector]) {
        assert.notEqual(s.rttMs, 1, 'RTT measured');
        assert.ok(s.rttMs > 0 && s.rttMs < 100, `rtt ${s.rttMs}`);
      }
    } finally {
      await p.close();
    }
  });

  it('detects a peer that stops answering and fails its streams', async () => {
    const peer = await rawPeer({ pingIntervalMs: 20, deadAfterMs: 100 });
    try {
      // The raw client answers PINGs while it reads its socket.
      peer.raw.on('message', (data: Buffer) => {
        new FrameDecoder().write(data, (f) => {
          if (f.type === FrameType.PING && f.flags === 0) peer.send(pingFrame(Flag.ACK, Buffer.from(f.payload)));
        });
      });
      await delay(250);
      assert.equal(peer.session.closed, false, 'a peer that answers is alive');
      const s = openBytes(peer.session);
      const err = streamError(s);
      // Now it goes silent: nothing read, nothing answered.
      (peer.raw as unknown as { _socket: Socket })._socket.pause();
      const info = await withTimeout(peer.sessionClosed, 1500, 'the dead link to be noticed');
      assert.equal(info.code, CloseCode.PING_TIMEOUT);
      assert.ok(info.error instanceof SessionClosedError, String(info.error));
      const e = await withTimeout(err, 1000, 'the stream to fail');
      assert.ok(e instanceof SessionClosedError);
      assert.equal(peer.session.activeStreams, 0);
    } finally {
      await peer.close();
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Events (edge → connector request log lines)
// ---------------------------------------------------------------------------------------------

/** A connector session (client side) facing a bare ws server that plays the edge by hand. */
async function rawEdge(): Promise<{ session: MuxSession; raw: WebSocket; sessionClosed: Promise<SessionCloseInfo>; close(): Promise<void> }> {
  const { wss, url } = await listen();
  const { client, server: raw } = await connect(wss, url);
  const session = new MuxSession(client, { role: 'connector' });
  const sessionClosed = (once(session, 'close') as Promise<[SessionCloseInfo]>).then(([info]) => info);
  sessionClosed.catch(noop);
  return { session, raw, sessionClosed, close: () => shutdown(wss, [client], [session]) };
}

const requestEvent = (i: number): RequestEvent => ({
  t: 'request',
  ts: 1_700_000_000_000 + i,
  method: 'GET',
  path: `/item/${i}`,
  status: 200,
  duration_ms: i,
  email: null,
  bytes_out: 10 * i,
});

describe('session: events', () => {
  it('delivers events from the edge to the connector as objects, in order', async () => {
    const p = await pair();
    try {
      const got: Array<Readonly<Record<string, unknown>>> = [];
      p.connector.on('event', (e) => void got.push(e));
      const sent = Array.from({ length: 20 }, (_, i) => requestEvent(i));
      for (const e of sent) assert.equal(p.edge.sendEvent(e), true);
      await until(() => got.length === sent.length, 'the events');
      assert.deepEqual(got, sent);
      assert.equal(p.edge.droppedEvents, 0);
    } finally {
      await p.close();
    }
  });

  it('only the edge sends events', async () => {
    const p = await pair();
    try {
      assert.throws(() => p.connector.sendEvent(requestEvent(1)), /only the edge/);
    } finally {
      await p.close();
    }
  });

  it('sends events ahead of stream data queued in the same turn', async () => {
    const peer = await rawPeer();
    try {
      const s = openBytes(peer.session);
      s.on('error', noop);
      s.write(Buffer.alloc(4 * DATA_CHUNK, 0x61));
      peer.session.sendEvent(requestEvent(1));
      await peer.waitFrame((f) => f.type === FrameType.EVENT, 'the EVENT');
      const firstData = peer.frames.findIndex((f) => f.type === FrameType.DATA);
      const event = peer.frames.findIndex((f) => f.type === FrameType.EVENT);
      assert.ok(firstData === -1 || event < firstData, `EVENT at ${event}, first DATA at ${firstData}`);
      assert.deepEqual(JSON.parse(peer.frames[event]!.payload.toString()), requestEvent(1));
    } finally {
      await peer.close();
    }
  });

  it('an event rides along in the next message the writer sends anyway, not in one of its own', async () => {
    const peer = await rawPeer();
    try {
      const s = openBytes(peer.session);
      s.on('error', noop);
      await peer.waitFrame((f) => f.type === FrameType.OPEN, 'the OPEN');
      const messagesBefore = peer.messageSizes.length;
      peer.session.sendEvent(requestEvent(1));
      await delay(10); // a few turns with nothing else to send
      s.write('data');
      await peer.waitFrame((f) => f.type === FrameType.DATA, 'the DATA');
      assert.equal(peer.messageSizes.length, messagesBefore + 1, 'EVENT and DATA share one message');
      const types = peer.frames.slice(-2).map((f) => f.type);
      assert.deepEqual(types, [FrameType.EVENT, FrameType.DATA]);
    } finally {
      await peer.close();
    }
  });

  it('bounds a burst of events in one turn: what was accepted arrives, the rest is counted as dropped', async () => {
    const p = await pair();
    try {
      let got = 0;
      p.connector.on('event', () => void got++);
      let accepted = 0;
      const burst = 10_000;
      for (let i = 0; i < burst; i++) if (p.edge.sendEvent(requestEvent(i))) accepted++;
      // ~130-byte frames under a 64 KiB queue limit: a few hundred fit, the rest must not queue.
      assert.ok(accepted > 100 && accepted < 1000, `${accepted} events queued in one turn`);
      assert.equal(p.edge.droppedEvents, burst - accepted);
      await until(() => got === accepted, `${accepted} events`);
      // Once the queue has drained, events are accepted again.
      assert.equal(p.edge.sendEvent(requestEvent(1)), true);
    } finally {
      await p.close();
    }
  });

  it('drops events while the writer is backed up, without growing its queue', async () => {
    const highWaterMark = 64 * KiB;
    const peer = await rawPeer({ highWaterMark });
    try {
      // The peer stops reading: stream data fills the writer up to its high-water mark.
      (peer.raw as unknown as { _socket: Socket })._socket.pause();
      const streams = Array.from({ length: 32 }, () => openBytes(peer.session));
      for (const s of streams) {
        s.on('error', noop);
        s.write(Buffer.alloc(INITIAL_WINDOW, 0x62));
      }
      await until(() => peer.session.queuedBytes >= highWaterMark, 'the writer to back up');
      const queued = peer.session.queuedBytes;
      for (let i = 0; i < 1000; i++) assert.equal(peer.session.sendEvent(requestEvent(i)), false);
      assert.equal(peer.session.droppedEvents, 1000);
      await delay(20);
      assert.ok(peer.session.queuedBytes <= queued, `queued ${peer.session.queuedBytes} > ${queued}`);
      assert.equal(peer.session.closed, false);
    } finally {
      await peer.close();
    }
  });

  it('drops an event that would encode to more than MAX_EVENT_PAYLOAD', async () => {
    const p = await pair();
    try {
      const got: Array<Readonly<Record<string, unknown>>> = [];
      p.connector.on('event', (e) => void got.push(e));
      assert.equal(p.edge.sendEvent({ ...requestEvent(1), path: `/${'x'.repeat(MAX_EVENT_PAYLOAD)}` }), false);
      assert.equal(p.edge.droppedEvents, 1);
      assert.equal(p.edge.sendEvent(requestEvent(2)), true);
      await until(() => got.length === 1, 'the next event');
      assert.deepEqual(got, [requestEvent(2)]);
    } finally {
      await p.close();
    }
  });

  for (const [name, payload] of [
    ['not JSON', Buffer.from('no')],
    ['a JSON array', Buffer.from('[1,2]')],
    ['a JSON string', Buffer.from('"request"')],
  ] as const) {
    it(`closes the connector session on an EVENT that is ${name} (PROTOCOL_ERROR)`, async () => {
      const peer = await rawEdge();
      try {
        peer.raw.send(encodeFrame(FrameType.EVENT, 0, 0, payload));
        const info = await withTimeout(peer.sessionClosed, 2000, 'the session to close');
        assert.equal(info.code, CloseCode.PROTOCOL_ERROR);
        assert.ok(info.error instanceof ProtocolError);
        assert.equal(info.error.code, ErrorCode.PROTOCOL_ERROR);
        assert.match(info.error.message, /malformed EVENT/);
      } finally {
        await peer.close();
      }
    });
  }
});
