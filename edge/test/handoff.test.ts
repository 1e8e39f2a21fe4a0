import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { SessionService } from '../src/auth/sessions.js';
import { Store } from '../src/store/index.js';
import { randomHandle } from '../src/store/secrets.js';
import { storeAlwaysUp } from './support/outage.js';

const dir = mkdtempSync(join(tmpdir(), 'postern-handoff-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function setup() {
  const store = await Store.open(join(dir, `${randomHandle().slice(0, 8)}.db`));
  const { account } = await store.accounts.ensure('owner@example.com');
  const socket = await store.sockets.create({ accountId: account.id, name: 'app', ephemeral: false });
  const other = await store.sockets.create({ accountId: account.id, name: 'other', ephemeral: false });
  const user = await store.users.upsert({ issuer: 'https://idp.test', subject: 'bob', email: 'bob@example.com', name: null, groups: [], githubOrgs: [], githubTeams: [] });
  const sessions = new SessionService(store, { absoluteMs: 3600_000, idleMs: 3600_000 }, storeAlwaysUp());
  const { record: login } = await sessions.createLogin(user.id);
  return { store, socket, other, sessions, login };
}

test('a handoff code signs in only the browser holding its nonce, once, on its own socket', async () => {
  const { store, socket, other, sessions, login } = await setup();
  const nonce = randomHandle();
  const code = await sessions.issueHandoff(login, socket.id, '/x', nonce);
  assert.equal(await sessions.redeemHandoff(code, randomHandle(), socket.id), undefined, 'another browser (another nonce)');
  assert.equal(await sessions.redeemHandoff(code, '', socket.id), undefined, 'no nonce cookie at all');
  assert.equal(await sessions.redeemHandoff(code, nonce, other.id), undefined, 'another socket');
  await store.close();
});

test('the right nonce redeems the code exactly once', async () => {
  const { store, socket, sessions, login } = await setup();
  const nonce = randomHandle();
  const code = await sessions.issueHandoff(login, socket.id, '/x?y=1', nonce);
  const redeemed = await sessions.redeemHandoff(code, nonce, socket.id);
  assert.equal(redeemed?.returnPath, '/x?y=1');
  assert.equal((await sessions.resolve(redeemed!.handle, socket.id))?.record.parentHash, login.idHash);
  assert.equal(await sessions.redeemHandoff(code, nonce, socket.id), undefined, 'single use');
  await store.close();
});
