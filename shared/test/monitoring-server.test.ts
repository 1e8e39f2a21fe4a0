import assert from 'node:assert/strict';
import { request } from 'node:http';
import { describe, it } from 'node:test';
import { startMonitoringServer, type ProbeResult } from '../src/index.js';

/** One request to the server on loopback: status, content type and body. */
function fetchLocal(port: number, path: string, method = 'GET'): Promise<{ status: number; type: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], body }));
    });
    req.setTimeout(5_000, () => req.destroy(new Error(`timed out: ${method} ${path}`)));
    req.on('error', reject);
    req.end();
  });
}

describe('monitoring server', () => {
  it('answers the probes with 200 or 503 and the reason, serves the metrics text, and nothing else', async () => {
    let ready: ProbeResult = { ok: false, reason: 'starting' };
    let failMetrics = false;
    const server = await startMonitoringServer('127.0.0.1', 0, {
      metrics: async () => {
        if (failMetrics) throw new Error('registry broke');
        return '# HELP up Up\nup 1\n';
      },
      metricsContentType: 'text/plain; version=0.0.4; charset=utf-8',
      live: () => ({ ok: true }),
      ready: () => ready,
    });
    try {
      assert.equal(server.url, `http://127.0.0.1:${server.port}`);
      assert.deepEqual(await fetchLocal(server.port, '/healthz'), { status: 200, type: 'application/json; charset=utf-8', body: '{"ok":true}' });
      assert.deepEqual(await fetchLocal(server.port, '/readyz'), { status: 503, type: 'application/json; charset=utf-8', body: '{"ok":false,"reason":"starting"}' });
      ready = { ok: true };
      assert.equal((await fetchLocal(server.port, '/readyz?verbose')).status, 200, 'a query string does not matter');
      assert.deepEqual(await fetchLocal(server.port, '/metrics'), { status: 200, type: 'text/plain; version=0.0.4; charset=utf-8', body: '# HELP up Up\nup 1\n' });
      assert.equal((await fetchLocal(server.port, '/')).status, 404);
      assert.equal((await fetchLocal(server.port, '/metrics/x')).status, 404);
      assert.equal((await fetchLocal(server.port, '/metrics', 'POST')).status, 405);
      failMetrics = true;
      const failed = await fetchLocal(server.port, '/metrics');
      assert.equal(failed.status, 500);
      assert.match(failed.body, /registry broke/);
    } finally {
      await server.close();
    }
    await assert.rejects(fetchLocal(server.port, '/healthz'), /ECONNREFUSED/, 'closed for good');
  });

  it('rejects when the address is taken', async () => {
    const probes = { metrics: async () => '', metricsContentType: 'text/plain', live: () => ({ ok: true }) as const, ready: () => ({ ok: true }) as const };
    const first = await startMonitoringServer('127.0.0.1', 0, probes);
    try {
      await assert.rejects(startMonitoringServer('127.0.0.1', first.port, probes), /EADDRINUSE/);
    } finally {
      await first.close();
    }
  });
});
