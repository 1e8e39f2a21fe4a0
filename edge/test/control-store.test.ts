import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Policy } from '@postern/shared/policy';
import type { FastifyBaseLogger } from 'fastify';
import { AuditLog } from '../src/audit/audit-log.js';
import { validationMessage } from '../src/api/validation-message.js';
import { normalizeUserCode } from '../src/store/devices.js';
import { Store } from '../src/store/index.js';
import { socketNameProblem } from '../src/store/labels.js';
import { LabelTakenError } from '../src/store/sockets.js';

const dir = mkdtempSync(join(tmpdir(), 'postern-control-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const open = (name: string) => Store.open(join(dir, `${name}.db`));

test('permanent sockets get a stable <stem>-<account> label; the same name twice is refused', async () => {
  const store = await open('labels');
  const { account } = await store.accounts.ensure('owner@example.com');
  const first = await store.sockets.create({ accountId: account.id, name: 'Grafana' });
  assert.equal(first.hostname, `grafana-${account.id.slice(0, 6)}`);
  await assert.rejects(store.sockets.create({ accountId: account.id, name: 'grafana!' }), LabelTakenError);
  await store.sockets.delete(first.id);
  assert.equal((await store.sockets.create({ accountId: account.id, name: 'Grafana' })).hostname, first.hostname, 'same label after re-creation');
  // A quick share with the same name gets a random suffix and does not collide.
  assert.match((await store.sockets.create({ accountId: account.id, name: 'Grafana', ephemeral: true })).hostname, /^grafana-[a-z0-9]{4,}$/);
  await store.close();
});

test('reserved and empty names are refused with a reason', async () => {
  assert.match(socketNameProblem('admin') ?? '', /reserved/);
  assert.match(socketNameProblem('  API ') ?? '', /reserved/);
  assert.match(socketNameProblem('!!!') ?? '', /no letters or digits/);
  assert.equal(socketNameProblem('admin panel'), null, 'a longer name that starts with a reserved word is fine');
  assert.equal(socketNameProblem('Grafana'), null);
});

test('updating a socket replaces its policy (a new revision) but never its hostname; deleting it removes its tunnels', async () => {
  const store = await open('update');
  const { account } = await store.accounts.ensure('owner@example.com');
  const policyFor = (domain: string): Policy => ({ version: 1, rules: [], default: { action: 'allow', domains: [domain] } });
  const socket = await store.sockets.create({ accountId: account.id, name: 'wiki', policy: policyFor('a.com') });
  assert.equal(socket.policyRevision, 1);
  const updated = await store.sockets.update(socket.id, { policy: policyFor('b.com'), name: 'Team wiki' });
  assert.deepEqual(updated?.policy, policyFor('b.com'));
  assert.equal(updated?.policyRevision, 2);
  assert.equal(updated?.hostname, socket.hostname);
  assert.deepEqual((await store.sockets.findById(socket.id))?.policy, policyFor('b.com'));
  assert.equal((await store.sockets.update(socket.id, { name: 'Wiki' }))?.policyRevision, 2, 'a rename is not a new policy');
  const tunnel = await store.tunnels.create({ socketId: socket.id, accountId: account.id, name: 'nas' });
  assert.equal((await store.tunnels.listBySocket(socket.id)).length, 1);
  await store.sockets.delete(socket.id);
  assert.equal(await store.tunnels.findById(tunnel.id), undefined, 'tunnels go with their socket');
  await store.close();
});

test('tokens say why they fail: unknown, expired or revoked; revocation is visible to the live check', async () => {
  const store = await open('tokens');
  const { account } = await store.accounts.ensure('owner@example.com');
  const { token, record } = await store.tokens.create(account.id, 'ci', Date.now() + 60_000);
  assert.equal((await store.tokens.check(token)).ok, true);
  assert.deepEqual(await store.tokens.check('pst_nope'), { ok: false, reason: 'unknown' });
  const expired = await store.tokens.check(token, Date.now() + 120_000);
  assert.equal(!expired.ok && expired.reason, 'expired');
  assert.equal(await store.tokens.findLive(record.id), true);
  const heard: string[] = [];
  store.cluster.changes.subscribe((event) => event.type === 'change' && heard.push(`${event.change.topic} ${event.change.key}`));
  assert.equal(await store.tokens.revoke(record.id), true);
  assert.equal(await store.tokens.revoke(record.id), false, 'revoking twice changes nothing');
  assert.deepEqual(heard, [`token ${record.id}`], 'the revocation is published once, after it committed');
  const revoked = await store.tokens.check(token);
  assert.equal(!revoked.ok && revoked.reason, 'revoked');
  assert.equal(await store.tokens.findLive(record.id), false);
  await store.close();
});

test('accounts made by a sign-in reach sockets only until the admin promotes them', async () => {
  const store = await open('accounts');
  const member = await store.accounts.ensure('contractor@gmail.com', { publisher: false });
  assert.equal(member.account.publisher, false);
  assert.equal((await store.accounts.ensure('contractor@gmail.com', { publisher: false })).account.publisher, false);
  assert.equal((await store.accounts.ensure('contractor@gmail.com')).account.publisher, true, 'admin user add promotes');
  assert.equal((await store.accounts.ensure('contractor@gmail.com', { publisher: false })).account.publisher, true, 'never demoted');
  await store.close();
});

test('device codes: loose user-code input, single answer, single use', async () => {
  assert.equal(normalizeUserCode('bcdf ghjk'), 'BCDF-GHJK');
  assert.equal(normalizeUserCode('BCDF-GHJ'), undefined);
  assert.equal(normalizeUserCode('ABCD-EFGH'), undefined, 'vowels are not in the alphabet');
  const store = await open('devices');
  const { account } = await store.accounts.ensure('owner@example.com');
  const auth = await store.devices.create('device-secret-1234567890', { clientName: 'laptop', remote: '127.0.0.1', ttlMs: 60_000 });
  assert.match(auth.userCode, /^[B-DF-HJ-NP-TV-XZ]{4}-[B-DF-HJ-NP-TV-XZ]{4}$/);
  assert.equal((await store.devices.findByDeviceCode('device-secret-1234567890'))?.status, 'pending');
  assert.equal(await store.devices.settle('device-secret-1234567890'), undefined, 'a pending code is not taken');
  assert.equal((await store.devices.answer(auth.userCode, { status: 'denied' }))?.status, 'denied');
  assert.equal(await store.devices.answer(auth.userCode, { status: 'approved', userId: 'u', accountId: account.id }), undefined, 'the first answer stands');
  assert.equal((await store.devices.settle('device-secret-1234567890'))?.status, 'denied');
  assert.equal(await store.devices.settle('device-secret-1234567890'), undefined, 'taken once');
  assert.equal(await store.devices.findByDeviceCode('device-secret-1234567890'), undefined);
  await store.close();
});

test('the audit log is scoped to an account, filterable by socket and time, newest first, and pruned', async () => {
  const store = await open('audit');
  await store.audit.append({ type: 'socket.create', accountId: 'acc1', socketId: 's1', at: 1000 });
  await store.audit.append({ type: 'access.denied', accountId: 'acc1', socketId: 's2', at: 2000, actor: 'eve@x.com', detail: { reason: 'not allowed' } });
  await store.audit.append({ type: 'socket.create', accountId: 'acc2', socketId: 's3', at: 3000 });
  const all = await store.audit.list({ accountId: 'acc1', limit: 10 });
  assert.deepEqual(all.map((e) => e.type), ['access.denied', 'socket.create']);
  assert.deepEqual(all[0]?.detail, { reason: 'not allowed' });
  assert.deepEqual((await store.audit.list({ accountId: 'acc1', socketId: 's1', limit: 10 })).map((e) => e.socketId), ['s1']);
  assert.equal((await store.audit.list({ accountId: 'acc1', since: 1500, limit: 10 })).length, 1);
  assert.equal(await store.audit.pruneBefore(2500), 2);
  assert.equal((await store.audit.list({ accountId: 'acc2', limit: 10 })).length, 1);
  await store.close();
});

test('the audit log writes events in the order recorded (in batches while a write is under way) and never fails its caller', async () => {
  const store = await open('audit-log');
  const errors: unknown[] = [];
  const log = new AuditLog(store.audit, { error: (...args: unknown[]) => errors.push(args) } as unknown as FastifyBaseLogger);
  for (let i = 0; i < 250; i++) log.record({ type: 'signin', accountId: 'acc1', at: 1000 + i, detail: { i } });
  await log.settled();
  const events = (await store.audit.list({ accountId: 'acc1', limit: 1000 })).reverse();
  assert.deepEqual(events.map((e) => e.detail.i), Array.from({ length: 250 }, (_, i) => i));
  assert.ok(events.every((e, i) => i === 0 || e.id > events[i - 1]!.id), 'ids in the order recorded');
  await store.close();
  log.record({ type: 'signin', accountId: 'acc1' });
  await log.stop();
  assert.equal(errors.length, 1, 'a write that fails is logged, not thrown');
});

test('validation errors name the field at fault', async () => {
  assert.equal(validationMessage('body', [{ keyword: 'additionalProperties', instancePath: '', params: { additionalProperty: 'bogus' } }]), 'body has an unknown field "bogus"');
  assert.equal(
    validationMessage('body', [{ keyword: 'minLength', instancePath: '/allowed_email_domains/0', params: {}, message: 'must NOT have fewer than 1 characters' }]),
    'body.allowed_email_domains[0] must NOT have fewer than 1 characters',
  );
  assert.equal(validationMessage('body', [{ keyword: 'enum', instancePath: '/protocol', params: { allowedValues: ['http', 'tcp'] } }]), 'body.protocol must be one of http, tcp');
});
