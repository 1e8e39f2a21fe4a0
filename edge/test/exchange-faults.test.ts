import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { describe, test } from 'node:test';
import type { FastifyBaseLogger } from 'fastify';
import { ErrorCode, StreamResetError, type MuxStream, type StreamHandler } from '@postern/shared';
import type { EdgeError } from '../src/errors.js';
import { AccessLog } from '../src/observability/access-log.js';
import { EdgeMetrics } from '../src/observability/metrics.js';
import type { Downstream } from '../src/proxy/answer.js';
import { Deadlines } from '../src/proxy/deadlines.js';
import { UpstreamExchange, type ExchangeInput, type ExchangeServices } from '../src/proxy/exchange.js';
import { containRequest, ExchangeFault, FAULT_STAGES } from '../src/proxy/exchange-faults.js';
import { upstreamError } from '../src/proxy/upstream-errors.js';
import type { TunnelConnection } from '../src/tunnel/connection.js';
import { TunnelRegistry } from '../src/tunnel/registry.js';

const boom = (): never => {
  throw new Error('boom');
};

describe('containRequest', () => {
  test('an exception in the request code is reported once and answered with EXCHANGE_FAILED; it does not propagate', () => {
    const faults: ExchangeFault[] = [];
    const answers: EdgeError[] = [];
    assert.doesNotThrow(() => containRequest(boom, (f) => faults.push(f), (err) => answers.push(err)));
    assert.equal(faults.length, 1);
    assert.equal(faults[0]!.stage, 'request');
    assert.deepEqual(answers.map((e) => [e.code, e.status]), [['EXCHANGE_FAILED', 502]]);
  });

  test('an answer that throws too is swallowed; a request that does not throw is left alone', () => {
    assert.doesNotThrow(() => containRequest(boom, () => undefined, boom));
    let ran = false;
    containRequest(() => void (ran = true), () => assert.fail('no fault'), () => assert.fail('no answer'));
    assert.equal(ran, true);
  });
});

describe('upstreamError: answers that are not HTTP', () => {
  test("the connector's TARGET_BAD_RESPONSE is APP_BAD_RESPONSE; TARGET_FAILED (closed, reset) stays APP_ERROR", () => {
    const bad = new StreamResetError(ErrorCode.TARGET_BAD_RESPONSE, 'Response does not match the HTTP/1.1 protocol (Expected HTTP/)', true);
    assert.equal(upstreamError(bad, 'app.example').code, 'APP_BAD_RESPONSE');
    assert.match(upstreamError(bad, 'app.example').message, /Expected HTTP\//);
    assert.equal(upstreamError(new StreamResetError(ErrorCode.TARGET_FAILED, 'other side closed', true), 'app.example').code, 'APP_ERROR');
  });
});

/** An exchange whose own code throws where it is told to, over a fake connection and downstream. */
class Throwing extends UpstreamExchange {
  constructor(
    input: ExchangeInput,
    conn: TunnelConnection,
    private readonly where: 'head' | 'body',
  ) {
    super(input, conn, 'http', false);
  }
  protected get sentStatus(): number | undefined {
    return this.input.downstream.untouched ? undefined : 200;
  }  protected deliverHead(): void {
    if (this.where === 'head') throw new Error('head boom');
    (this.input.downstream as { untouched: boolean }).untouched = false;
  }
  protected deliverBody(): void {
    throw new Error('body boom');
  }
}

function throwingExchange(where: 'head' | 'body') {
  const seen = { faults: [] as ExchangeFault[], refused: [] as EdgeError[], cut: 0, resets: [] as number[], ended: 0 };
  const stream = { reset: (code: number) => seen.resets.push(code), consumed: () => undefined } as unknown as MuxStream;
  let handler: StreamHandler | undefined;
  const conn = {
    info: { requestEvents: false },
    requestStarted: () => undefined,
    requestEnded: () => seen.ended++,
    openRequest: (_kind: string, _request: unknown, h: StreamHandler) => ((handler = h), stream),
  } as unknown as TunnelConnection;
  const downstream = {
    req: { headers: {}, method: 'GET', url: '/' },
    trace: { bytesOut: 0, bytesIn: 0, fault: (f: ExchangeFault) => seen.faults.push(f) },
    untouched: true,
    refuse: (err: EdgeError) => seen.refused.push(err),
    cut: () => seen.cut++,
  } as unknown as Downstream;
  const proxy: ExchangeServices = { pickConnection: () => undefined, abandoned: () => undefined, timeoutMs: 60_000, deadlines: new Deadlines(1_000) };
  new Throwing({ request: { method: 'GET', target: '/', headers: [] }, downstream, socketId: 'sck_1', targetName: 'app.example', email: null, proxy }, conn, where).start();
  return { seen, handler: handler! };
}

describe('UpstreamExchange: an exception inside one exchange ends that exchange only', () => {
  test('thrown while relaying the head: nothing leaves for the session, the fault is counted once, the client gets EXCHANGE_FAILED, the stream is reset', () => {
    const { seen, handler } = throwingExchange('head');
    assert.doesNotThrow(() => handler.onStreamHead!({ status: 200, headers: [] }));
    assert.doesNotThrow(() => handler.onStreamData(Buffer.from('more'), true));
    assert.deepEqual(seen.faults.map((f) => f.stage), ['response_head']);
    assert.deepEqual(seen.refused.map((e) => e.code), ['EXCHANGE_FAILED']);
    assert.deepEqual(seen.resets, [ErrorCode.CANCEL]);
    assert.equal(seen.ended, 1, 'the connection counts the request as ended once');
  });

  test('thrown while relaying the body: the answer that began is cut, never completed', () => {
    const { seen, handler } = throwingExchange('body');
    handler.onStreamHead!({ status: 200, headers: [] });
    assert.doesNotThrow(() => handler.onStreamData(Buffer.from('part'), false));
    assert.deepEqual(seen.faults.map((f) => f.stage), ['response_body']);
    assert.deepEqual(seen.refused, []);
    assert.equal(seen.cut, 1);
    assert.deepEqual(seen.resets, [ErrorCode.CANCEL]);
  });
});

describe('RequestTrace.fault', () => {
  test('logs once with the socket and request id, and counts once by stage', async () => {
    const lines: Array<[Record<string, unknown>, string]> = [];
    const log = { error: (obj: Record<string, unknown>, msg: string) => lines.push([obj, msg]), info: () => undefined } as unknown as FastifyBaseLogger;
    const metrics = new EdgeMetrics(new TunnelRegistry(), { up: true });
    const access = new AccessLog(log, metrics, false);
    const req = { method: 'GET', url: '/file?secret=1', headers: {}, socket: {} } as unknown as IncomingMessage;
    const trace = access.begin(req, 'app.example', 'sck_1', 'http');
    trace.fault(new ExchangeFault('response_head', new Error('first')));
    trace.fault(new ExchangeFault('response_body', new Error('second')));
    assert.equal(lines.length, 1);
    const [line, msg] = lines[0]!;
    assert.equal(msg, 'exchange failed inside the edge');
    assert.equal(line.socket, 'sck_1');
    assert.equal(line.stage, 'response_head');
    assert.equal(line.path, '/file');
    assert.ok('reqId' in line);
    const text = await metrics.registry.metrics();
    for (const stage of FAULT_STAGES) {
      const value = stage === 'response_head' ? 1 : 0;
      assert.match(text, new RegExp(`postern_edge_exchange_failures_total\\{stage="${stage}"\\} ${value}\\n`));
    }
  });
});
