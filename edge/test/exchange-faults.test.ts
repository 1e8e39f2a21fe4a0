import assert from 'node:assert/strict';
import type { IncomingMessage } from 'node:http';
import { PassThrough } from 'node:stream';
import { describe, test } from 'node:test';
import type { FastifyBaseLogger } from 'fastify';
import { errors as undiciErrors, type Dispatcher } from 'undici';
import type { EdgeError } from '../src/errors.js';
import { AccessLog } from '../src/observability/access-log.js';
import { EdgeMetrics } from '../src/observability/metrics.js';
import { ContainedHandler, containRequest, containStreamListeners, ExchangeFault, FAULT_STAGES, type FaultStage } from '../src/proxy/exchange-faults.js';
import { relayedReason } from '../src/proxy/headers.js';
import { upstreamError } from '../src/proxy/upstream-errors.js';
import { TunnelRegistry } from '../src/tunnel/registry.js';

const controller = {} as Dispatcher.DispatchController;
const boom = (): never => {
  throw new Error('boom');
};

describe('ContainedHandler', () => {
  const calls: Array<[keyof ContainedHandler & keyof Dispatcher.DispatchHandler, FaultStage]> = [
    ['onRequestStart', 'request'],
    ['onResponseStart', 'response_head'],
    ['onResponseData', 'response_body'],
    ['onResponseEnd', 'response_body'],
    ['onResponseError', 'response_body'],
    ['onRequestUpgrade', 'upgrade'],
  ];
  for (const [method, stage] of calls) {
    test(`an exception in ${method} reaches onFault as stage ${stage}, and does not propagate`, () => {
      const faults: ExchangeFault[] = [];
      const handler = new ContainedHandler({ [method]: boom } as Dispatcher.DispatchHandler, (f) => faults.push(f));
      const call = handler[method] as (...args: unknown[]) => void;
      assert.doesNotThrow(() => call.call(handler, controller, 200, {}, new PassThrough()));
      assert.equal(faults.length, 1);
      assert.equal(faults[0]!.stage, stage);
      assert.equal((faults[0]!.cause as Error).message, 'boom');
    });
  }

  test('passes every argument through and reports nothing when the handler does not throw', () => {
    const seen: unknown[] = [];
    const faults: ExchangeFault[] = [];
    const handler = new ContainedHandler(
      { onResponseStart: (_c, status, headers, message) => seen.push(status, headers, message), onResponseData: (_c, chunk) => seen.push(chunk) },
      (f) => faults.push(f),
    );
    const chunk = Buffer.from('x');
    handler.onResponseStart(controller, 201, { a: 'b' }, 'Created');
    handler.onResponseData(controller, chunk);
    assert.deepEqual(seen, [201, { a: 'b' }, 'Created', chunk]);
    assert.deepEqual(faults, []);
  });
});

describe('containStreamListeners', () => {
  test("an exception in a listener of the stream's events destroys that stream with an http_client fault, not the process", async () => {
    const stream = new PassThrough();
    containStreamListeners(stream);
    const errors: Error[] = [];
    stream.on('error', (err) => errors.push(err));
    // What undici's parser did on 'end' (assert(!this.paused) in Parser.finish).
    stream.on('end', () => {
      throw new Error('assert(!this.paused)');
    });
    stream.resume();
    stream.end('last bytes');
    await new Promise((resolve) => stream.once('close', resolve));
    assert.equal(stream.destroyed, true);
    assert.equal(errors.length, 1);
    assert.ok(errors[0] instanceof ExchangeFault);
    assert.equal(errors[0].stage, 'http_client');
    assert.match(errors[0].message, /assert\(!this\.paused\)/);
  });

  test('listeners that do not throw see every event as before', async () => {
    const stream = new PassThrough();
    containStreamListeners(stream);
    const chunks: string[] = [];
    stream.on('data', (c: Buffer) => chunks.push(String(c)));
    const ended = new Promise((resolve) => stream.once('end', resolve));
    stream.end('abc');
    await ended;
    assert.deepEqual(chunks, ['abc']);
    assert.equal(stream.emit('nobody-listens'), false);
  });
});

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
    containRequest(() => (ran = true), () => assert.fail('no fault'), () => assert.fail('no answer'));
    assert.equal(ran, true);
  });
});

describe('relayedReason', () => {
  test("keeps the app's plain-text phrase", () => {
    assert.equal(relayedReason(200, 'All Good'), 'All Good');
    assert.equal(relayedReason(404, 'Not\tHere'), 'Not\tHere');
  });

  test('replaces a phrase that is not plain text, or none, with the standard one', () => {
    assert.equal(relayedReason(200, '\ufffdOK\ufffd'), 'OK'); // 0xFF bytes, as undici decodes them
    assert.equal(relayedReason(200, '成功'), 'OK');
    assert.equal(relayedReason(200, 'caf\u00e9'), 'OK');
    assert.equal(relayedReason(503, ''), 'Service Unavailable');
    assert.equal(relayedReason(200, undefined), 'OK');
    assert.equal(relayedReason(599, '\u0001'), '');
  });
});

describe('upstreamError: answers that are not HTTP', () => {
  test('parser errors, length mismatches, oversized heads and refused interim answers are APP_BAD_RESPONSE', () => {
    const bad = [
      new undiciErrors.HTTPParserError('Response does not match the HTTP/1.1 protocol (Expected HTTP/)'),
      new undiciErrors.ResponseContentLengthMismatchError(),
      new undiciErrors.HeadersOverflowError(),
      new undiciErrors.SocketError('bad response'),
    ];
    for (const err of bad) assert.equal(upstreamError(err, 'app.example').code, 'APP_BAD_RESPONSE', err.message);
  });

  test('a connection closed without an answer stays APP_ERROR', () => {
    assert.equal(upstreamError(new undiciErrors.SocketError('other side closed'), 'app.example').code, 'APP_ERROR');
  });
});

describe('RequestTrace.fault', () => {
  test('logs once with the socket and request id, and counts once by stage', async () => {
    const lines: Array<[Record<string, unknown>, string]> = [];
    const log = { error: (obj: Record<string, unknown>, msg: string) => lines.push([obj, msg]), info: () => undefined } as unknown as FastifyBaseLogger;
    const metrics = new EdgeMetrics(new TunnelRegistry());
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
