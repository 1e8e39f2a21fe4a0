import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { after, afterEach, beforeEach, describe, test } from 'node:test';
import type { FastifyBaseLogger } from 'fastify';
import { AuditLog } from '../src/audit/audit-log.js';
import { GrantSeal } from '../src/auth/grant-seal.js';
import { IdentityUpdater } from '../src/auth/identity-change.js';
import { IdpSessions } from '../src/auth/idp-sessions.js';
import { LiveConnections } from '../src/auth/live-connections.js';
import { GrantEndedError, type ProviderGrant, type RedirectProvider, type SignIn, type VerifiedIdentity } from '../src/auth/providers/types.js';
import { SessionRevalidator } from '../src/auth/revalidation.js';
import { SessionService } from '../src/auth/sessions.js';
import type { ChangeReactions } from '../src/cluster/change-reactions.js';
import { CompiledPolicies } from '../src/policy/compiled-policies.js';
import { OpenStreams } from '../src/policy/open-streams.js';
import { Store } from '../src/store/index.js';
import type { SocketRecord } from '../src/store/sockets.js';
import { randomHandle } from '../src/store/secrets.js';
import { reactionsFor } from './support/reactions.js';
import { sqliteOf } from './support/sqlite.js';
import { storeAlwaysUp } from './support/outage.js';

const PERIOD = 60_000;
const HOUR = 3600_000;
const quiet = { info() {}, warn() {}, error() {}, debug() {}, child() { return quiet; } } as unknown as FastifyBaseLogger;
const dir = mkdtempSync(join(tmpdir(), 'postern-revalidation-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const bob: VerifiedIdentity = { issuer: 'https://idp.example', subject: 'bob', email: 'bob@corp.example', name: 'Bob', groups: ['dev'], githubOrgs: [], githubTeams: [] };

/** A provider whose next re-validation answer the test decides. */
class ScriptedProvider {
  answer: (grant: ProviderGrant) => SignIn = (grant) => ({ identity: bob, grant, notices: [] });
  seen: ProviderGrant[] = [];
  readonly provider: RedirectProvider = {
    id: 'corp',
    name: 'Corp SSO',
    kind: 'oidc',
    authorizationUrl: () => Promise.reject(new Error('not used')),
    complete: () => Promise.reject(new Error('not used')),
    revalidate: async (grant) => {
      this.seen.push(grant);
      return this.answer(grant);
    },
  };
}

describe('session re-validation', async () => {
  let store: Store;
  let scripted: ScriptedProvider;
  let idp: IdpSessions;
  let live: LiveConnections;
  let streams: OpenStreams;
  let revalidator: SessionRevalidator;
  let reactions: ChangeReactions;
  let n = 0;

  beforeEach(async () => {
    store = await Store.open(join(dir, `r${++n}.db`));
    scripted = new ScriptedProvider();
    const providers = new Map([['corp', scripted.provider]]);
    const sessions = new SessionService(store, { absoluteMs: 24 * HOUR, idleMs: 8 * HOUR }, storeAlwaysUp(HOUR));
    live = new LiveConnections(async () => true, 3600_000);
    // Revocations close streams through the edge's change listener, as on a running edge.
    reactions = reactionsFor(store, { sessions, live });
    idp = new IdpSessions(store, providers, new Map([['corp', GrantSeal.forProvider('secret', 'corp')]]), sessions, PERIOD);
    streams = new OpenStreams(new CompiledPolicies(store), store, () => {});
    const identities = new IdentityUpdater(store, sessions, live, streams, 8 * HOUR);
    revalidator = new SessionRevalidator({ store, idp, providers, identities, audit: new AuditLog(store.audit, quiet), log: quiet, periodMs: PERIOD, idleMs: 8 * HOUR });
  });

  afterEach(async () => {
    streams.stop();
    await reactions.stop();
  });

  /** A WebSocket-like stream of bob's on a socket, by the credential that opened it, decided on `path`. */
  function follow(credential: string, socket: SocketRecord, path = '/'): PassThrough {
    const stream = new PassThrough();
    live.add(credential, socket.id, stream);
    const identity = { email: bob.email, groups: bob.groups, githubOrgs: [], githubTeams: [] };
    streams.track({ socket, identity, facts: { path, method: 'GET', ip: '127.0.0.1', at: Date.now(), corsPreflight: false }, actor: bob.email }, 'websocket', stream);
    return stream;
  }

  const groupsOnly = (groups: string[]) => ({ version: 1 as const, rules: [], default: { action: 'allow' as const, groups } });

  /** Bob signed in (now), with a socket session for a socket that requires `groups`, and a live stream on it. */
  async function signedIn(now: number, groups = ['dev']) {
    const user = await store.users.upsert(bob);
    const { account } = await store.accounts.ensure('owner@corp.example');
    const socket = await store.sockets.create({ accountId: account.id, name: `s${groups.join('-')}`, policy: groupsOnly(groups) });
    const login = await store.sessions.create(randomHandle(), { userId: user.id, socketId: null, parentHash: null, expiresAt: now + 24 * HOUR });
    const child = await store.sessions.create(randomHandle(), { userId: user.id, socketId: socket.id, parentHash: login.idHash, expiresAt: login.expiresAt });
    const stream = follow(child.idHash, socket);
    const grant = await idp.attach(login, 'corp', { identity: bob, grant: { refreshToken: 'rt-1', sid: 'sid-1' }, notices: [] }, now);
    return { user, socket, login, child, stream, grant };
  }

  const events = (type: string) =>
    (sqliteOf(store).prepare('SELECT actor, detail FROM audit_events WHERE type = ?').all(type) as { actor: string; detail: string }[]).map((r) => ({ actor: r.actor, detail: JSON.parse(r.detail) as Record<string, unknown> }));

  test('nothing happens before a grant is due; when due, the rotated refresh token is sealed and the next check scheduled', async () => {
    const now = Date.now();
    const { grant, stream } = await signedIn(now);
    await revalidator.runDue(now + PERIOD - 1);
    assert.equal(scripted.seen.length, 0);
    scripted.answer = () => ({ identity: bob, grant: { refreshToken: 'rt-2', sid: 'sid-1' }, notices: [] });
    await revalidator.runDue(now + PERIOD);
    assert.deepEqual(scripted.seen, [{ refreshToken: 'rt-1' }], 'the sealed credential, and only it');
    const after1 = (await store.idpGrants.findById(grant.id))!;
    assert.ok(after1.revalidateAt! >= now + PERIOD, 'the next check is a period away');
    assert.equal((await idp.open(after1))?.refreshToken, 'rt-2');
    assert.equal(stream.destroyed, false);
    assert.deepEqual(events('session.changed'), []);
  });

  test('changed groups apply at once: the stored identity, and the live streams whose socket no longer lets the user in', async () => {
    const now = Date.now();
    const { user, stream, login } = await signedIn(now, ['dev']);
    const { account } = await store.accounts.ensure('owner@corp.example');
    const opsOnly = await store.sockets.create({ accountId: account.id, name: 'ops-only', policy: groupsOnly(['ops']) });
    const opsSession = await store.sessions.create(randomHandle(), { userId: user.id, socketId: opsOnly.id, parentHash: login.idHash, expiresAt: login.expiresAt });
    const other = follow(opsSession.idHash, opsOnly);
    scripted.answer = (grant) => ({ identity: { ...bob, groups: ['ops'] }, grant, notices: [] });
    await revalidator.runDue(now + PERIOD);
    assert.deepEqual((await store.users.findById(user.id))?.groups, ['ops']);
    assert.equal(stream.destroyed, true, 'the dev-only socket no longer admits bob');
    assert.equal(other.destroyed, false, 'the ops-only socket now does');
    const [changed] = events('session.changed');
    assert.deepEqual([changed?.detail.groupsAdded, changed?.detail.groupsRemoved], [['ops'], ['dev']]);
  });

  test('changed groups: each stream is decided again on the path it was opened on, and kept ones follow the new identity', async () => {
    const now = Date.now();
    const user = await store.users.upsert({ ...bob, groups: ['dev', 'admins'] });
    const { account } = await store.accounts.ensure('owner@corp.example');
    const policy = {
      version: 1 as const,
      rules: [
        { paths: ['/admin/*'], action: 'allow' as const, groups: ['admins'] },
        { paths: ['/admin/*'], action: 'deny' as const },
      ],
      default: { action: 'allow' as const, groups: ['dev'] },
    };
    const socket = await store.sockets.create({ accountId: account.id, name: 'wiki', policy });
    const login = await store.sessions.create(randomHandle(), { userId: user.id, socketId: null, parentHash: null, expiresAt: now + 24 * HOUR });
    const child = await store.sessions.create(randomHandle(), { userId: user.id, socketId: socket.id, parentHash: login.idHash, expiresAt: login.expiresAt });
    const admin = follow(child.idHash, socket, '/admin/live');
    const page = follow(child.idHash, socket, '/live');
    await idp.attach(login, 'corp', { identity: { ...bob, groups: ['dev', 'admins'] }, grant: { refreshToken: 'rt-1', sid: 'sid-1' }, notices: [] }, now);
    scripted.answer = (grant) => ({ identity: bob, grant, notices: [] }); // no longer in admins
    await revalidator.runDue(now + PERIOD);
    assert.equal(admin.destroyed, true, '/admin/* is for admins only');
    assert.equal(page.destroyed, false, 'the rest of the wiki still admits dev');
    // A later policy change decides the kept stream with the identity the IdP gave last.
    await store.sockets.update(socket.id, { policy: { ...policy, default: { action: 'allow', groups: ['admins'] } } });
    await streams.recheck();
    assert.equal(page.destroyed, true, 'bob is no longer in admins');
  });

  test('a refusal ends the login, its socket sessions and the tokens made with it, streams included', async () => {
    const now = Date.now();
    const { login, child, stream, grant } = await signedIn(now);
    const { account } = await store.accounts.ensure('bob@corp.example');
    const { record: token } = await store.tokens.create(account.id, 'postern login (laptop)', now + HOUR, login.userId);
    await idp.deviceApproved('device-hash-1', login.idHash, now + 600_000);
    await idp.tokenIssued('device-hash-1', token.id);
    const tcp = new PassThrough();
    live.add(`token:${token.id}`, 'sck_tcp', tcp);
    scripted.answer = () => {
      throw new GrantEndedError('Corp SSO refused the refresh token (invalid_grant)');
    };
    await revalidator.runDue(now + PERIOD);
    await reactions.settled();
    assert.notEqual((await store.sessions.find(login.idHash))?.revokedAt, null);
    assert.notEqual((await store.sessions.find(child.idHash))?.revokedAt, null);
    assert.notEqual((await store.tokens.findById(token.id))?.revokedAt, null, 'the postern login token');
    assert.equal(stream.destroyed, true);
    assert.equal(tcp.destroyed, true);
    assert.equal((await store.idpGrants.findById(grant.id)), undefined);
    const [ended] = events('session.ended');
    assert.equal(ended?.actor, 'bob@corp.example');
    assert.match(String(ended?.detail.reason), /invalid_grant/);
    assert.deepEqual(ended?.detail.tokens_revoked, [token.id]);
  });

  test('an IdP that does not answer is asked again within a minute; after two periods without an answer the session ends', async () => {
    const now = Date.now();
    const { grant, stream, login } = await signedIn(now);
    scripted.answer = () => {
      throw new Error('connect ECONNREFUSED');
    };
    await revalidator.runDue(now + PERIOD);
    const failed = (await store.idpGrants.findById(grant.id))!;
    assert.equal(failed.failures, 1);
    assert.equal(failed.revalidateAt, now + PERIOD + Math.min(PERIOD, 60_000));
    assert.equal(stream.destroyed, false, 'still vouched for, recently');
    await revalidator.runDue(now + 2 * PERIOD + 1);
    assert.equal(await store.idpGrants.findById(grant.id), undefined);
    assert.notEqual((await store.sessions.find(login.idHash))?.revokedAt, null);
    assert.match(String(events('session.ended')[0]?.detail.reason), /could not be asked for 2 min/);
  });

  test('a grant nothing rests on any more is dropped without asking the IdP', async () => {
    const now = Date.now();
    const { grant, login } = await signedIn(now);
    await store.sessions.revokeTree(login.idHash);
    await revalidator.runDue(now + PERIOD);
    assert.equal(scripted.seen.length, 0);
    assert.equal((await store.idpGrants.findById(grant.id)), undefined);
  });

  test('a due grant is taken once, even by two passes at the same time (a refresh token may be used once)', async () => {
    const now = Date.now();
    await signedIn(now);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = scripted.provider.revalidate;
    (scripted.provider as { revalidate: RedirectProvider['revalidate'] }).revalidate = async (g, p) => {
      await gate;
      return slow(g, p);
    };
    const other = new SessionRevalidator({ store, idp, providers: new Map([['corp', scripted.provider]]), identities: new IdentityUpdater(store, new SessionService(store, { absoluteMs: HOUR, idleMs: HOUR }, storeAlwaysUp(HOUR)), live, streams, HOUR), audit: new AuditLog(store.audit, quiet), log: quiet, periodMs: PERIOD, idleMs: 8 * HOUR });
    const passes = [revalidator.runDue(now + PERIOD), other.runDue(now + PERIOD)];
    release();
    await Promise.all(passes);
    assert.equal(scripted.seen.length, 1);
    await other.stop();
  });

  test('a seal that no longer opens (the client secret changed) ends the session', async () => {
    const now = Date.now();
    const { grant } = await signedIn(now);
    sqliteOf(store).prepare('UPDATE idp_grants SET sealed = ? WHERE id = ?').run(await GrantSeal.forProvider('old-secret', 'corp').seal(grant.id, { refreshToken: 'x' }), grant.id);
    await revalidator.runDue(now + PERIOD);
    assert.equal(scripted.seen.length, 0);
    assert.match(String(events('session.ended')[0]?.detail.reason), /no longer opens/);
  });
});
