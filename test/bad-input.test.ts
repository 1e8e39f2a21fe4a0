import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { connect as tcpConnect } from 'node:net';
import { FrameDecoder, FrameType, PROTOCOL_VERSION, encodeFrame, type Frame } from '@postern/shared';
import type WebSocket from 'ws';
import { closeOf, nextMessage, openWebSocket, rawUpgrade, request } from './lib/http.js';
import { Origin } from './lib/origin.js';
import {
  ConnectorProcess,
  EdgeProcess,
  createAccount,
  createSocket,
  makeTempDir,
  runCli,
  spawnConnector,
  type SocketView,
} from './lib/postern.js';
import { killAll } from './lib/process.js';
import { pollUntil, withTimeout } from './lib/wait.js';

const TUNNEL = '/v1/tunnel';

/** CLI failures: exactly one `error:` line, no stack trace; commander may add its "(run with --help ...)" hint. */
function assertOneErrorLine(result: { code: number | null; stdout: string[]; stderr: string[] }, what: string): void {
  const lines = result.stderr.filter((l) => l.trim() !== '');
  const context = `${what}\nstdout:\n${result.stdout.join('\n')}\nstderr:\n${result.stderr.join('\n')}`;
  assert.notEqual(result.code, 0, `exits non-zero: ${context}`);
  assert.ok(lines.length >= 1, `prints an error: ${context}`);
  assert.match(lines[0]!, /^error: \S/, context);
  const others = lines.slice(1).filter((l) => !/^\(run with --help for usage\)$/.test(l));
  assert.deepEqual(others, [], `one readable line: ${context}`);
  assert.ok(!result.stderr.some((l) => /^\s+at /.test(l)), `no stack trace: ${context}`);
  assert.ok(!/\b(TypeError|ReferenceError|CliError|ConfigError|unexpected failure)\b/.test(lines[0]!), `a readable message: ${context}`);
  assert.equal(result.stdout.filter((l) => l.trim() !== '').length, 0, `nothing on stdout: ${context}`);
}

describe('bad input', () => {
  const tmp = makeTempDir('bad-input');
  let edge: EdgeProcess;
  let origin: Origin;
  let alice: string;
  let bob: string;
  let bystander: ConnectorProcess;
  /** Alice's socket with no connector: another account must not be able to serve it. */
  let privateSocket: SocketView;

  before(async () => {
    origin = await Origin.start();
    const db = `${tmp.dir}/edge.db`;
    alice = await createAccount(db, 'alice@example.com');
    bob = await createAccount(db, 'bob@example.com');
    edge = await EdgeProcess.start({ db });
    bystander = await ConnectorProcess.startServing({ edge, token: alice, appPort: origin.port, name: 'bystander' });
    privateSocket = await createSocket(edge, alice, 'private');
  });

  after(async () => {
    await killAll();
    await origin?.close();
    tmp.remove();
  });

  /** The edge keeps serving a well-behaved connector. */
  async function assertBystanderServed(context: string): Promise<void> {
    const res = await request({ port: edge.port, host: bystander.publicHost, path: '/hello' });
    assert.equal(res.status, 200, `the normal connector still serves (${context})`);
    assert.ok(edge.proc.running, `the edge is still running (${context})`);
  }

  /** Alice's private socket is not served by anyone. */
  async function assertPrivateSocketOffline(): Promise<void> {
    const seen = origin.requests.length;
    const res = await request({
      port: edge.port,
      host: new URL(privateSocket.url).host,
      path: '/hello',
      headers: { accept: 'application/json' },
    });
    assert.equal(res.status, 502);
    assert.equal(res.headers['postern-error'], 'TUNNEL_OFFLINE');
    assert.equal(origin.requests.length, seen, 'nothing reached any app');
  }

  /** Handshake headers; `null` leaves one out. */
  const tunnelHeaders = (token: string | null, socketId: string, protocol: string | null = String(PROTOCOL_VERSION)) => ({
    ...(token === null ? {} : { authorization: `Bearer ${token}` }),
    ...(protocol === null ? {} : { 'postern-protocol': protocol }),
    'postern-socket': socketId,
  });

  /** A tunnel handshake the edge must refuse; an accepted one is closed at once and fails the test. */
  async function refusedUpgrade(headers: Record<string, string>): Promise<{ status: number; body: string }> {
    const res = await rawUpgrade(edge.port, edge.domain, TUNNEL, headers);
    if (!('body' in res)) {
      res.socket.destroy();
      assert.fail(`the edge accepted the tunnel handshake (101) instead of refusing it: ${JSON.stringify(headers)}`);
    }
    return res;
  }

  function errorCodeOf(body: string): string | undefined {
    try {
      return (JSON.parse(body) as { error?: { code?: string } }).error?.code;
    } catch {
      assert.fail(`expected a JSON error body, got: ${body.slice(0, 300)}`);
    }
  }

  describe('connector credentials and handshake', () => {
    it('connect with a bad token exits 1 with one error line and no stack trace', async () => {
      const result = await runCli(['connect', '--port', String(origin.port), '--json'], {
        POSTERN_EDGE: edge.url,
        POSTERN_TOKEN: 'pst_this-token-does-not-exist',
      });
      assert.equal(result.code, 1);
      assertOneErrorLine(result, 'bad token');
    });

    it('refuses a tunnel upgrade speaking another protocol version with 426 PROTOCOL_VERSION', async () => {
      const older = await refusedUpgrade(tunnelHeaders(alice, privateSocket.id, String(PROTOCOL_VERSION - 1)));
      assert.equal(older.status, 426);
      assert.equal(errorCodeOf(older.body), 'PROTOCOL_VERSION');
      assert.match(older.body, /upgrade the connector/, 'a connector of the previous protocol is told to upgrade itself');
      const newer = await refusedUpgrade(tunnelHeaders(alice, privateSocket.id, String(PROTOCOL_VERSION + 1)));
      assert.equal(newer.status, 426);
      assert.match(newer.body, /upgrade the edge/);

      const missing = await refusedUpgrade(tunnelHeaders(alice, privateSocket.id, null));
      assert.equal(missing.status, 426, 'no version header at all is refused the same way');
      assert.equal(errorCodeOf(missing.body), 'PROTOCOL_VERSION');
    });

    it('refuses a tunnel upgrade without a token, or with an unknown one, with 401', async () => {
      const none = await refusedUpgrade(tunnelHeaders(null, privateSocket.id));
      assert.equal(none.status, 401);
      assert.equal(errorCodeOf(none.body), 'UNAUTHORIZED');

      const unknown = await refusedUpgrade(tunnelHeaders('pst_nope', privateSocket.id));
      assert.equal(unknown.status, 401);
    });

    it("refuses a raw tunnel upgrade for another account's socket exactly like an unknown one (404) and serves nothing", async () => {
      const res = await refusedUpgrade(tunnelHeaders(bob, privateSocket.id));
      assert.equal(res.status, 404);
      assert.equal(errorCodeOf(res.body), 'SOCKET_NOT_FOUND');
      await assertPrivateSocketOffline();
    });

    it("connect --socket with another account's socket exits 1 with one error line and serves nothing", { timeout: 20_000 }, async () => {
      const proc = spawnConnector({ edge, token: bob, appPort: origin.port, args: ['--socket', privateSocket.id], label: 'connect:bob' });
      const exit = await proc.waitExit(15_000).catch(async (err: unknown) => {
        await proc.stop('SIGKILL');
        throw err;
      });
      assert.equal(exit.code, 1, proc.output());
      assertOneErrorLine({ code: exit.code, stdout: proc.stdoutLines, stderr: proc.stderrLines }, "another account's socket");
      await assertPrivateSocketOffline();
    });
  });

  describe('malformed frames on an accepted tunnel', () => {
    let rawSocket: SocketView;

    before(async () => {
      rawSocket = await createSocket(edge, alice, 'raw');
    });

    /** A tunnel WebSocket that passed the handshake; resolves once the edge's first message (HELLO) arrived. */
    async function openTunnel(): Promise<{ ws: WebSocket; first: Buffer }> {
      const ws = await openWebSocket(edge.port, edge.domain, TUNNEL, tunnelHeaders(alice, rawSocket.id));
      const first = await nextMessage(ws);
      return { ws, first: first.data };
    }

    const warnings = () => edge.logs().filter((l) => (l.level ?? 0) >= 40).length;

    async function expectClose(send: (ws: WebSocket) => void, codes: readonly number[], what: string): Promise<void> {
      const { ws, first } = await openTunnel();
      const frames: Frame[] = [];
      new FrameDecoder().write(first, (f) => frames.push(f));
      assert.ok(frames.some((f) => f.type === FrameType.HELLO), 'the edge greets an accepted connector with HELLO');

      const warningsBefore = warnings();
      const closed = closeOf(ws);
      send(ws);
      const { code } = await closed;
      assert.ok(codes.includes(code), `${what}: closed with ${code}, expected ${codes.join(' or ')}`);
      // "is logged": the edge reports the broken tunnel as a warning, not as an ordinary disconnect.
      await pollUntil(async () => (warnings() > warningsBefore ? true : undefined), {
        timeoutMs: 5_000,
        what: () => `a warning in the edge log about ${what} (closed with ${code}); last edge log lines:\n${edge.proc.stdoutLines.slice(-3).join('\n')}`,
      });
      await assertBystanderServed(what);
    }

    it('closes the tunnel with 4000/4002 on garbage bytes', async () => {
      await expectClose((ws) => ws.send(Buffer.from('GET / HTTP/1.1\r\nHost: nope\r\n\r\n')), [4000, 4002], 'garbage bytes');
      await expectClose((ws) => ws.send(Buffer.from([PROTOCOL_VERSION, 0xee, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0])), [4000], 'an unknown frame type');
    });

    it('closes the tunnel with 4000 on a truncated frame', async () => {
      const ping = encodeFrame(FrameType.PING, 0, 0, Buffer.alloc(8));
      await expectClose((ws) => ws.send(ping.subarray(0, ping.length - 3)), [4000], 'a frame cut in its payload');
      await expectClose((ws) => ws.send(ping.subarray(0, 5)), [4000], 'a frame cut in its header');
    });

    it('closes the tunnel with 4000 on a frame for a stream that was never opened', async () => {
      await expectClose((ws) => ws.send(encodeFrame(FrameType.DATA, 0, 4242, Buffer.from('hi'))), [4000], 'DATA for an unknown stream');
      await expectClose((ws) => ws.send(encodeFrame(FrameType.WINDOW, 0, 4243, Buffer.from([0, 0, 1, 0]))), [4000], 'WINDOW for an unknown stream');
    });

    it('closes the tunnel with 4002 on a frame with a wrong version byte', async () => {
      const frame = encodeFrame(FrameType.PING, 0, 0, Buffer.alloc(8));
      frame[0] = PROTOCOL_VERSION - 1;
      await expectClose((ws) => ws.send(frame), [4002], 'a frame of the previous protocol version');
    });

    it('closes the tunnel with 4000 on a text message', async () => {
      await expectClose((ws) => ws.send('{"type":"hello"}'), [4000], 'a text message');
    });

    it('closes the tunnel with 4000 on a frame whose length exceeds the maximum payload', async () => {
      const header = encodeFrame(FrameType.DATA, 0, 2, Buffer.alloc(0));
      header.writeUInt32BE(16 * 1024 * 1024, 8);
      await expectClose((ws) => ws.send(header), [4000], 'an oversized length field');
    });

    it('closes the tunnel on a WebSocket message larger than the edge accepts', async () => {
      await expectClose((ws) => ws.send(Buffer.alloc(1024 * 1024, 1)), [1009, 4000], 'a 1 MiB message');
    });

    it('closes the tunnel with 4000 on HELLO sent to the edge', async () => {
      await expectClose((ws) => ws.send(encodeFrame(FrameType.HELLO, 0, 0, Buffer.from('{"v":1}'))), [4000], 'HELLO from a connector');
    });

    /** A browser request that makes the edge open a stream on the raw tunnel; resolves with the stream id. */
    function streamOpened(ws: WebSocket): Promise<number> {
      return new Promise<number>((resolve) => {
        const decoder = new FrameDecoder();
        ws.on('message', (data: Buffer) =>
          decoder.write(data, (f) => {
            if (f.type === FrameType.OPEN) resolve(f.streamId);
          }),
        );
      });
    }

    it('closes the tunnel with 4000 when the connector sends body bytes before answering, and the waiting request gets a 502', { timeout: 20_000 }, async () => {
      const { ws } = await openTunnel();
      const opened = streamOpened(ws);
      const pending = request({ port: edge.port, host: new URL(rawSocket.url).host, path: '/hello', headers: { accept: 'application/json' } });
      const streamId = await withTimeout(opened, 5_000, 'the edge to open a stream on the raw tunnel');
      const closed = closeOf(ws);
      ws.send(encodeFrame(FrameType.DATA, 0, streamId, Buffer.from('HTTP/1.1 200 OK\r\n\r\nsmuggled')));
      assert.equal((await closed).code, 4000);
      const res = await pending;
      assert.equal(res.status, 502, res.body.toString());
      assert.ok(res.headers['postern-error'], 'the edge answers with its own error page');
      await assertBystanderServed('DATA before RESPONSE');
    });

    it('closes the tunnel with 4000 when a stream overruns its window, and the client sees a cut response', { timeout: 30_000 }, async () => {
      const { ws } = await openTunnel();
      const opened = streamOpened(ws);
      // A client that sends its request and does not read: the edge stops granting credit once its socket is full.
      const client = tcpConnect({ host: '127.0.0.1', port: edge.port });
      client.write(`GET /big HTTP/1.1\r\nHost: ${new URL(rawSocket.url).host}\r\n\r\n`);
      client.pause();
      const received: Buffer[] = [];
      const clientClosed = new Promise<void>((resolve) => client.once('close', () => resolve()));
      client.on('error', () => undefined);
      const streamId = await withTimeout(opened, 5_000, 'the edge to open a stream on the raw tunnel');
      const closed = closeOf(ws);
      let tunnelClosed = false;
      void closed.then(() => (tunnelClosed = true));
      ws.send(encodeFrame(FrameType.RESPONSE, 0, streamId, Buffer.from(':status\x00200\x00content-type\x00application/octet-stream')));
      // Then body bytes without regard to the edge's WINDOW frames, until it notices (bounded: 32 MiB).
      const message = Buffer.concat(Array(8).fill(encodeFrame(FrameType.DATA, 0, streamId, Buffer.alloc(16 * 1024, 0x61))));
      for (let i = 0; i < 256 && !tunnelClosed; i++) {
        ws.send(message);
        await new Promise((resolve) => setImmediate(resolve));
      }
      assert.equal((await withTimeout(closed, 10_000, 'the edge to close the tunnel')).code, 4000);
      client.on('data', (c: Buffer) => received.push(c));
      client.resume();
      await withTimeout(clientClosed, 10_000, 'the client connection to be cut');
      const text = Buffer.concat(received).toString('latin1');
      assert.match(text, /^HTTP\/1\.1 200 /, 'the answer had started');
      assert.ok(!text.endsWith('0\r\n\r\n'), 'the cut response does not end with the last chunk: it never looks complete');
      await assertBystanderServed('window overrun');
    });
  });

  describe('command line', () => {
    const env = () => ({ POSTERN_EDGE: edge.url, POSTERN_TOKEN: alice });
    const cases: { name: string; args: string[]; env?: () => Record<string, string> }[] = [
      { name: 'a port that is not a number (--port abc)', args: ['--port', 'abc'] },
      { name: 'a port out of range (--port 70000)', args: ['--port', '70000'] },
      { name: 'an unknown flag', args: ['--port', '3000', '--no-such-flag'] },
      { name: 'a missing --port', args: [] },
      { name: 'no POSTERN_EDGE', args: ['--port', '3000'], env: () => ({ POSTERN_TOKEN: alice }) },
    ];
    for (const c of cases) {
      it(`connect with ${c.name} exits non-zero with one readable line`, async () => {
        const result = await runCli(['connect', ...c.args, '--json'], (c.env ?? env)());
        assertOneErrorLine(result, c.name);
      });
    }

    it('edge --listen nonsense exits 1 with one readable line', async () => {
      const result = await runCli(['edge', '--listen', 'nonsense', '--db', `${tmp.dir}/unused.db`]);
      assert.equal(result.code, 1);
      assertOneErrorLine(result, 'edge --listen nonsense');
    });
  });
});
