import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { ApiClient, ApiError } from '../src/api-client.js';
import { EdgeRoute } from '../src/edge-route.js';

/** An edge API stand-in that answers every call with `status` and counts the calls. */
function fakeApi(status: number): Promise<{ server: Server; url: string; calls: string[] }> {
  const calls: string[] = [];
  const server = createServer((req, res) => {
    calls.push(`${req.method} ${req.url}`);
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(status < 400 ? '{"id":"acc_1","email":"a@b.c"}' : '{"error":{"code":"SOCKET_NOT_FOUND","message":"socket sck_x does not exist"}}');
  });
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, calls })));
}

/** A loopback port nothing listens on (connection refused). */
async function refusing(): Promise<string> {
  const { server, url } = await fakeApi(200);
  await new Promise((resolve) => server.close(resolve));
  return url;
}

let ok: Awaited<ReturnType<typeof fakeApi>>;
let missing: Awaited<ReturnType<typeof fakeApi>>;
let dead: string;
before(async () => {
  [ok, missing, dead] = [await fakeApi(200), await fakeApi(404), await refusing()];
});
after(() => {
  ok.server.close();
  missing.server.close();
});

test('a call goes to the first edge that can be reached, and keeps using it', async () => {
  const api = new ApiClient([dead, ok.url], 'pst_x');
  assert.equal(api.edgeUrl, dead);
  assert.equal((await api.whoami()).email, 'a@b.c');
  assert.equal(api.edgeUrl, ok.url);
  await api.createToken({ name: 'x' }); // a POST too: the refused edge was never reached
  assert.deepEqual(ok.calls.slice(-2), ['GET /api/v1/whoami', 'POST /api/v1/tokens']);
});

test('an HTTP error is the answer: the next edge is not asked', async () => {
  const before = ok.calls.length;
  await assert.rejects(new ApiClient([missing.url, ok.url], 'pst_x').getSocket('sck_x'), (e: unknown) => e instanceof ApiError && e.status === 404);
  assert.equal(ok.calls.length, before);
});

test('no edge reachable: one line naming each', async () => {
  const other = await refusing();
  await assert.rejects(new ApiClient([dead, other], 'pst_x').whoami(), (e: Error) => e.message === `cannot reach any edge (${dead}: ECONNREFUSED; ${other}: ECONNREFUSED)`);
  await assert.rejects(new ApiClient(dead, 'pst_x').whoami(), (e: Error) => e.message === `cannot reach the edge at ${dead}: ECONNREFUSED`);
});

test('a failure after the request may have been sent is not retried elsewhere', async () => {
  const route = new EdgeRoute([ok.url, dead]);
  const tried: string[] = [];
  const reset = Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' });
  await assert.rejects(route.first(async (url) => { tried.push(url); throw reset; }, () => false), /cannot reach the edge at .*ECONNRESET/);
  assert.deepEqual(tried, [ok.url]);
});
