import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { StoreOutageGrace } from '../src/auth/outage-grace.js';
import { SessionService } from '../src/auth/sessions.js';
import { StoreHealth } from '../src/observability/store-health.js';
import { Store } from '../src/store/index.js';
import { randomHandle } from '../src/store/secrets.js';

const dir = mkdtempSync(join(tmpdir(), 'postern-handoff-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function setup() {
  const store = await Store.open(join(dir, `${randomHandle().slice(0, 8)}.db`));
  const { account } = await store.accounts.ensure('owner@example.com');
  const socket = store.sockets.create({ accountId: account.id, name: 'app', ephemeral: false });
  const other = store.sockets.create({ accountId: account.id, name: 'other', ephemeral: false });
  const user = await store.users.upsert({ issuer: 'https://idp.test', subject: 'bob', email: 'bob@example.com', name: null, groups: [], githubOrgs: [], githubTeams: [] });
  const sessions = new SessionService(store, { absoluteMs: 3600_000, idleMs: 3600_000 }, () => undefined, new StoreOutageGrace(new StoreHealth(async () => true), 3600_000));
  const { record: login } = sessions.createLogin(user.id);
  return { store, socket, other, sessions, login };
}

test('a handoff code signs in only the browser holding its nonce, once, on its own socket', async () => {
  const { store, socket, other, sessions, login } = await setup();
  const nonce = randomHandle();
  const code = sessions.issueHandoff(login, socket.id, '/x', nonce);
  assert.equal(sessions.redeemHandoff(code, randomHandle(), socket.id), undefined, 'another browser (another nonce)');
  assert.equal(sessions.redeemHandoff(code, '', socket.id), undefined, 'no nonce cookie at all');
  assert.equal(sessions.redeemHandoff(code, nonce, other.id), undefined, 'another socket');
  await store.close();
});

test('the right nonce redeems the code exactly once', async () => {
  const { store, socket, sessions, login } = await setup();
  const nonce = randomHandle();
  const code = sessions.issueHandoff(login, socket.id, '/x?y=1', nonce);
  const redeemed = sessions.redeemHandoff(code, nonce, socket.id);
  assert.equal(redeemed?.returnPath, '/x?y=1');
  assert.equal(sessions.resolve(redeemed!.handle, socket.id)?.record.parentHash, login.idHash);
  assert.equal(sessions.redeemHandoff(code, nonce, socket.id), undefined, 'single use');
  await store.close();
});
