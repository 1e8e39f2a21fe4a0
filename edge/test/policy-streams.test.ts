import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, test } from 'node:test';
import { resolvePolicy, type Identity, type PolicyInput, type RequestFacts } from '@postern/shared/policy';
import { CompiledPolicies } from '../src/policy/compiled-policies.js';
import { OpenStreams, type OpenStream } from '../src/policy/open-streams.js';
import { replay } from '../src/policy/replay.js';
import type { AuditEvent } from '../src/store/audit.js';
import { Store } from '../src/store/index.js';

const dir = mkdtempSync(join(tmpdir(), 'postern-policy-streams-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const T0 = Date.parse('2027-01-31T16:00:00Z');
const carol: Identity = { email: 'carol@contractor.io', groups: [], githubOrgs: [], githubTeams: [] };
const ann: Identity = { email: 'ann@corp.com', groups: [], githubOrgs: [], githubTeams: [] };
const facts = (over: Partial<RequestFacts> = {}): RequestFacts => ({ path: '/ws', method: 'GET', ip: '127.0.0.1', at: T0, corsPreflight: false, ...over });

async function setup(name: string, input: PolicyInput) {
  const store = await Store.open(join(dir, `${name}.db`));
  const { account } = await store.accounts.ensure('owner@corp.com');
  const socket = await store.sockets.create({ accountId: account.id, name, policy: resolvePolicy(input, undefined, 'http') });
  const policies = new CompiledPolicies(store);
  const cuts: string[] = [];
  const streams = new OpenStreams(policies, store, (stream, verdict) => cuts.push(`${stream.actor}: ${verdict.reason}`), 3_600_000);
  return { store, socket, policies, streams, cuts };
}

const CONTRACTOR: PolicyInput = { rules: [{ action: 'allow', emails: ['carol@contractor.io'], expires: '2027-01-31T17:00:00Z' }], allowed_email_domains: ['corp.com'] };

test('open streams: the one an expiring rule let in closes when it expires; the others stay', async () => {
  const { store, socket, streams, cuts } = await setup('expiry', CONTRACTOR);
  const carols = new PassThrough();
  const anns = new PassThrough();
  streams.track({ socket, identity: carol, facts: facts(), actor: 'carol@contractor.io' }, 'websocket', carols);
  streams.track({ socket, identity: ann, facts: facts(), actor: 'ann@corp.com' }, 'tcp', anns);
  await streams.recheck(Date.parse('2027-01-31T16:59:59Z'));
  assert.equal(carols.destroyed, false, 'still inside the rule');
  await streams.recheck(Date.parse('2027-01-31T17:00:00Z'));
  assert.equal(carols.destroyed, true);
  assert.equal(anns.destroyed, false, "ann is let in by the default, which does not expire");
  assert.deepEqual(cuts, ["carol@contractor.io: carol@contractor.io is not allowed by this socket's rules; rules[0] would let them in, but only until 2027-01-31T17:00:00Z"]);
  assert.equal(streams.size, 1);
  anns.destroy();
  await once(anns, 'close');
  assert.equal(streams.size, 0, 'closed streams are forgotten');
  streams.stop();
  await store.close();
});

test('open streams: a policy that does not depend on time is not decided again until it changes; then public streams follow it too', async () => {
  const { store, socket, streams, cuts } = await setup('change', { rules: [{ paths: ['/ws'], action: 'public' }], cloudauth: true });
  const anonymous = new PassThrough();
  streams.track({ socket, identity: null, facts: facts(), actor: null }, 'websocket', anonymous);
  await streams.recheck(T0 + 3600_000);
  assert.equal(anonymous.destroyed, false);
  await store.sockets.update(socket.id, { policy: resolvePolicy({ cloudauth: true }, undefined, 'http') });
  await streams.recheck(T0);
  assert.equal(anonymous.destroyed, true, 'the public rule is gone: the anonymous WebSocket closes');
  assert.deepEqual(cuts, ['null: sign-in required']);
  streams.stop();
  await store.close();
});

const event = (id: number, actor: string | null, path: string, over: Partial<AuditEvent> = {}): AuditEvent => ({
  id,
  at: T0 + id * 1000,
  type: 'access.allowed',
  accountId: 'acc',
  socketId: 'sck',
  actor,
  remote: '127.0.0.1',
  detail: { path, method: 'GET', rule: null },
  ...over,
});

test('policy diff: replays audited accesses through both policies and groups what changes by person, method and path', async () => {
  const { store, socket, policies, streams } = await setup('diff', { allowed_email_domains: ['corp.com'] });
  const narrowed = await policies.compile(resolvePolicy({ rules: [{ paths: ['/reports/*'], action: 'allow', emails: ['ann@corp.com'] }, { paths: ['/reports/*'], action: 'deny' }], allowed_email_domains: ['corp.com'] }, undefined, 'http'), socket);
  const identities: Record<string, Identity> = { 'ann@corp.com': ann, 'bob@corp.com': { ...ann, email: 'bob@corp.com' }, 'eve@evil.com': { ...ann, email: 'eve@evil.com' } };
  const events = [
    event(1, 'ann@corp.com', '/reports/q1'),
    event(2, 'bob@corp.com', '/reports/q1'),
    event(3, 'bob@corp.com', '/reports/q1'),
    event(4, 'bob@corp.com', '/'),
    event(5, 'eve@evil.com', '/reports/q1', { type: 'access.denied' }),
    event(6, 'bob@corp.com', '/ws', { type: 'access.denied', detail: { path: '/ws', method: 'GET', stream_closed: true } }),
  ];
  const bobs: OpenStream = { socket, identity: identities['bob@corp.com']!, facts: facts({ path: '/reports/live' }), actor: 'bob@corp.com', kind: 'websocket', openedAt: T0 };
  const diff = replay({
    since: T0,
    events,
    truncated: false,
    current: await policies.of(socket),
    next: narrowed,
    streams: [bobs],
    identityOf: (e) => (e.actor === null ? null : identities[e.actor]!),
    now: T0 + 10_000,
  });
  assert.equal(diff.replayed, 5, 'a cut stream is not an access of its own');
  assert.equal(diff.people, 3);
  assert.equal(diff.unchanged, 3);
  assert.deepEqual(diff.lose.map((c) => [c.actor, c.path, c.accesses, c.before.allow, c.after.allow, c.after.rule]), [['bob@corp.com', '/reports/q1', 2, true, false, 1]]);
  assert.deepEqual(diff.gain, []);
  assert.deepEqual(diff.streams_cut.map((s) => [s.kind, s.actor, s.path]), [['websocket', 'bob@corp.com', '/reports/live']]);
  streams.stop();
  await store.close();
});
