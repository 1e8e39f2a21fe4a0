import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Connector } from '../src/connector.js';
import { ConnectorMetrics } from '../src/metrics.js';

/** A connector that is never started: its events are emitted by the test. */
const idleConnector = () =>
  new Connector({ edgeUrls: ['http://127.0.0.1:1'], token: 'pst_test', socketId: 'sck_test', target: { host: '127.0.0.1', port: 1 }, connections: 2, graceMs: 0, connectorId: 'test' });

const requestEntry = (status: number, kind: 'request' | 'websocket_close' = 'request') => ({
  kind,
  slot: 0,
  time: new Date(),
  email: null,
  method: 'GET',
  path: '/',
  status,
  durationMs: 1,
  bytesOut: 10,
});

describe('connector metrics', () => {
  it('counts reconnects, requests by status class, bytes to and from the app, and dial errors by code', async () => {
    const metrics = new ConnectorMetrics();
    const connector = idleConnector();
    metrics.watch(connector);
    connector.emit('connection', { slot: 0, state: 'connecting', edge: 'http://127.0.0.1:1' });
    connector.emit('connection', { slot: 0, state: 'reconnecting', edge: 'http://127.0.0.1:1', retryInMs: 100, reason: 'lost' });
    connector.emit('connection', { slot: 1, state: 'reconnecting', edge: 'http://127.0.0.1:1', retryInMs: 100, reason: 'lost' });
    for (const status of [200, 201, 404, 502]) connector.emit('request', requestEntry(status));
    connector.emit('request', requestEntry(101, 'websocket_close'));
    metrics.streamEnded(120, 3000);
    metrics.streamEnded(0, 5);
    metrics.dialFailed('ECONNREFUSED');
    metrics.dialFailed('ECONNREFUSED');
    metrics.dialFailed('not a code');
    const out = await metrics.registry.metrics();
    for (const line of [
      'postern_connector_reconnects_total 2',
      'postern_connector_requests_total{code="2xx"} 2',
      'postern_connector_requests_total{code="4xx"} 1',
      'postern_connector_requests_total{code="5xx"} 1',
      'postern_connector_app_bytes_total{direction="to_app"} 120',
      'postern_connector_app_bytes_total{direction="from_app"} 3005',
      'postern_connector_app_dial_errors_total{code="ECONNREFUSED"} 2',
      'postern_connector_app_dial_errors_total{code="other"} 1',
      'postern_connector_tunnel_connections 0',
      'postern_connector_streams 0',
    ]) {
      assert.ok(out.split('\n').includes(line), `${line}\nin:\n${out}`);
    }
    assert.ok(!out.includes('code="1xx"'), 'a WebSocket close is not a second request');
    assert.match(out, /^process_cpu_user_seconds_total /m, 'process metrics are included');
  });

  it('is unhealthy until it follows a connector with a tunnel up, and not ready while stopping', async () => {
    const metrics = new ConnectorMetrics();
    assert.deepEqual(metrics.live(), { ok: false, reason: 'starting: no tunnel connection yet' });
    assert.equal(metrics.ready().ok, false);
    const connector = idleConnector();
    metrics.watch(connector);
    assert.deepEqual(metrics.live(), { ok: false, reason: 'no tunnel connection to the edge is up' });
    await connector.stop(0);
    assert.deepEqual(metrics.ready(), { ok: false, reason: 'stopping: in-flight requests are draining' });
  });
});
