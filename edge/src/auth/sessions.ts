import { ReadCache, andThen, type Maybe } from '../store/read-cache.js';
import { hashHandle, randomHandle } from '../store/secrets.js';
import type { Store } from '../store/index.js';
import type { SessionRecord } from '../store/sessions.js';
import type { User } from '../store/users.js';
import type { StoreOutageGrace } from './outage-grace.js';

export interface SessionLifetimes {
  /** A session ends this long after sign-in, whatever happens. */
  readonly absoluteMs: number;
  /** A session ends after this long without a request. */
  readonly idleMs: number;
}

export interface ResolvedSession {
  readonly record: SessionRecord;
  readonly user: User;
}

/** The nonce a socket host sets before asking for a handoff code (a random handle). */
export const isHandoffNonce = (value: string | undefined): value is string => value !== undefined && /^[A-Za-z0-9_-]{43}$/.test(value);

/** A code is stored (hashed) together with the nonce it is bound to: a wrong nonce finds nothing. */
const boundCode = (code: string, bind: string): string => `${code}.${bind}`;

/**
 * Cached lookups are read again this often. Sign-out, revocation and identity changes evict them on
 * every edge through the change feed at once; the TTL only bounds what a lost change costs.
 */
const CACHE_TTL_MS = 5 * 60_000;
const MAX_CACHED = 100_000;
/** A session's `last_seen_at` moves at most this often… */
const TOUCH_EVERY_MS = 60_000;
/** …and the edge writes the sessions it saw in one statement this often (and when it stops). */
export const TOUCH_FLUSH_MS = 30_000;
const HANDOFF_TTL_MS = 60_000;

/**
 * Sessions behind opaque cookie handles. The browser holds a random 256-bit handle; the store holds
 * its hash, the user, the socket it is valid for, and its lifetimes. Every sign-in creates a new
 * handle (no fixation). Revocations are published on the change feed; the edge's listener
 * (cluster/change-reactions.ts) evicts them here and closes their live streams, on every edge.
 */
export class SessionService {
  private readonly cache = new ReadCache<string, ResolvedSession | undefined>({
    maxEntries: MAX_CACHED,
    ttlMs: CACHE_TTL_MS,
    keep: (resolved) => resolved !== undefined,
  });
  /** Sessions seen since the last flush, whose `last_seen_at` the store has not been told yet. */
  private readonly seen = new Set<string>();

  constructor(
    private readonly store: Store,
    readonly lifetimes: SessionLifetimes,
    private readonly outage: StoreOutageGrace,
  ) {}

  /** A new login session on the edge host. */
  async createLogin(userId: string, now = Date.now()): Promise<{ handle: string; record: SessionRecord }> {
    const handle = randomHandle();
    const record = await this.store.sessions.create(handle, { userId, socketId: null, parentHash: null, expiresAt: now + this.lifetimes.absoluteMs });
    return { handle, record };
  }

  /**
   * A one-time code that lets `socketId`'s host create its own session from this login. It is bound
   * to `bind`, a nonce the socket host put in a host-only cookie of the browser it sent here: the
   * code alone (in a link an attacker sends) signs no one in.
   */
  async issueHandoff(login: SessionRecord, socketId: string, returnPath: string, bind: string): Promise<string> {
    const code = randomHandle();
    await this.store.sessions.createCode(boundCode(code, bind), { parentHash: login.idHash, socketId, returnPath, expiresAt: Date.now() + HANDOFF_TTL_MS });
    return code;
  }

  /**
   * Redeems a handoff code on the socket host it was made for, in the browser holding its nonce: a
   * new socket session, valid no longer than the login it came from. Undefined for unknown, used,
   * expired, foreign or unbound codes.
   */
  async redeemHandoff(code: string, bind: string, socketId: string, now = Date.now()): Promise<{ handle: string; returnPath: string } | undefined> {
    if (!code || !isHandoffNonce(bind)) return undefined;
    const handoff = await this.store.sessions.consumeCode(boundCode(code, bind));
    if (!handoff || handoff.socketId !== socketId) return undefined;
    const parent = await this.store.sessions.find(handoff.parentHash);
    if (!parent || !this.isValid(parent, now)) return undefined;
    const handle = randomHandle();
    await this.store.sessions.create(handle, { userId: parent.userId, socketId, parentHash: parent.idHash, expiresAt: parent.expiresAt });
    return { handle, returnPath: handoff.returnPath };
  }

  /**
   * The live session for a cookie handle on this host (`socketId` null = the edge host), or
   * undefined: synchronous when cached, a promise when the store must be read. While the database
   * does not answer, a cached session serves within --store-outage-grace, then 503 (auth/outage-grace.ts).
   */
  resolve(handle: string | undefined, socketId: string | null, now = Date.now()): Maybe<ResolvedSession | undefined> {
    if (!handle || handle.length > 100) return undefined;
    const idHash = hashHandle(handle);
    return andThen(this.outage.read(this.cache, idHash, () => this.load(idHash), now), (resolved) => this.admit(idHash, resolved, socketId, now));
  }

  /** Whether a session (by hash) is still live: the safety-net sweep over long-lived streams asks this. */
  async isLive(idHash: string, now = Date.now()): Promise<boolean> {
    const record = await this.store.sessions.find(idHash);
    // This edge may have seen it more recently than it has written.
    const lastSeenAt = Math.max(record?.lastSeenAt ?? 0, this.cache.peek(idHash)?.record.lastSeenAt ?? 0);
    return record !== undefined && this.isValid({ ...record, lastSeenAt }, now);
  }

  /** Signs out one session and every socket session handed off from it. */
  async signOut(record: SessionRecord): Promise<void> {
    await this.store.sessions.revokeTree(record.idHash);
  }

  /** Signs a user out of every session, everywhere. */
  async signOutEverywhere(userId: string): Promise<void> {
    await this.store.sessions.revokeAllOfUser(userId);
  }

  /** Ends a user's sessions on one socket host (and their open WebSockets). */
  async signOutOfSocket(userId: string, socketId: string): Promise<void> {
    await this.store.sessions.revokeAllOfUserOnSocket(userId, socketId);
  }

  /** A session changed (a `session` change): its next request reads it again. */
  forget(idHash: string): void {
    this.cache.delete(idHash);
  }

  /** Forgets cached lookups of a user whose identity just changed: the next request reads it afresh. */
  forgetUser(userId: string): void {
    this.cache.deleteWhere((resolved) => resolved?.user.id === userId);
  }

  forgetAll(): void {
    this.cache.clear();
  }

  /**
   * Writes the sessions seen since the last flush in one statement (the edge calls it every
   * TOUCH_FLUSH_MS and when it stops). Those not written are tried again at the next flush.
   */
  async flushTouches(now = Date.now()): Promise<void> {
    const hashes = [...this.seen];
    this.seen.clear();
    if (hashes.length === 0) return;
    try {
      await this.store.sessions.touch(hashes, now);
    } catch (err) {
      for (const hash of hashes) this.seen.add(hash);
      throw err;
    }
  }

  private async load(idHash: string): Promise<ResolvedSession | undefined> {
    const record = await this.store.sessions.find(idHash);
    const user = record && (await this.store.users.findById(record.userId));
    return record && user ? { record, user } : undefined;
  }

  private admit(idHash: string, resolved: ResolvedSession | undefined, socketId: string | null, now: number): ResolvedSession | undefined {
    if (!resolved) return undefined;
    const { record } = resolved;
    if (record.socketId !== socketId || !this.isValid(record, now)) return undefined;
    // No touch while the store is down: the outage's grace, not activity, bounds what a cached session may do.
    if (now - record.lastSeenAt <= TOUCH_EVERY_MS || this.outage.storeDown) return resolved;
    const touched = { ...resolved, record: { ...record, lastSeenAt: now } };
    this.cache.replace(idHash, touched);
    this.seen.add(idHash);
    return touched;
  }

  private isValid(record: SessionRecord, now: number): boolean {
    return record.revokedAt === null && now < record.expiresAt && now - record.lastSeenAt < this.lifetimes.idleMs;
  }
}
