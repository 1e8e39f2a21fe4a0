import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { FeedEvent } from '../src/cluster/change-feed.js';
import { createCluster } from '../src/cluster/cluster.js';
import { openSql } from '../src/store/sql/open.js';

const dir = mkdtempSync(join(tmpdir(), 'postern-cluster-local-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const self = { edgeId: 'edge-only', advertiseUrl: 'https://edge.internal' };

test('on SQLite the cluster is this edge alone: a held lease, local presence, nobody to relay to', async () => {
  const db = await openSql(join(dir, 'presence.db'));
  const cluster = createCluster(db, self);
  assert.equal(cluster.lease.held, false);
  await cluster.start();
  assert.equal(cluster.lease.held, true);
  assert.deepEqual(await cluster.lease.liveEdges(), [self]);
  cluster.presence.add({ connectionId: 'c1', socketId: 'sck_a', tunnelId: null });
  cluster.presence.add({ connectionId: 'c2', socketId: 'sck_b', tunnelId: 'tun_1' });
  cluster.presence.remove('c1');
  await cluster.presence.settled();
  assert.deepEqual((await cluster.presence.liveConnections()).map((c) => [c.connectionId, c.edge.edgeId]), [['c2', 'edge-only']]);
  assert.deepEqual(await cluster.presence.liveConnections('sck_a'), []);
  assert.deepEqual(await cluster.presence.locate('sck_b'), [], 'the connection is local: no other edge holds it');
  await cluster.stop();
  assert.equal(cluster.lease.held, false);
  await db.close();
});

test('on SQLite a change is heard in this process once its transaction commits, never after a rollback', async () => {
  const db = await openSql(join(dir, 'feed.db'));
  const cluster = createCluster(db, self);
  await cluster.start();
  const heard: FeedEvent[] = [];
  const unsubscribe = cluster.changes.subscribe((event) => heard.push(event));
  await db.transaction(async (tx) => {
    await cluster.changes.publish(tx, { topic: 'session', key: 'h1' });
    assert.deepEqual(heard, [], 'not before the commit');
  });
  await assert.rejects(
    db.transaction(async (tx) => {
      await cluster.changes.publish(tx, { topic: 'session', key: 'h2' });
      throw new Error('abort');
    }),
  );
  assert.deepEqual(heard, [{ type: 'change', change: { topic: 'session', key: 'h1' } }]);
  unsubscribe();
  await db.transaction((tx) => cluster.changes.publish(tx, { topic: 'token', key: 't1' }));
  assert.equal(heard.length, 1, 'an unsubscribed listener hears nothing');
  await cluster.stop();
  await db.close();
});

test('on SQLite every singleton job runs here, each period, until the cluster stops', async () => {
  const db = await openSql(join(dir, 'jobs.db'));
  const cluster = createCluster(db, self);
  await cluster.start();
  let rounds = 0;
  cluster.job('reaper', 20, async () => void rounds++);
  const deadline = Date.now() + 5_000;
  while (rounds < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
  assert.ok(rounds >= 3, `${rounds} rounds`);
  await cluster.stop();
  const after = rounds;
  await new Promise((resolve) => setTimeout(resolve, 100));
  assert.equal(rounds, after, 'stopped with the cluster');
  await db.close();
});
