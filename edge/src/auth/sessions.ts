import { hashHandle, randomHandle } from '../store/secrets.js';
import type { Store } from '../store/index.js';
import { userNow } from '../store/interim-sync.js';
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

/** Cached lookups are re-checked against SQLite this often; in-process revocations apply at once. */
const CACHE_TTL_MS = 5_000;
const TOUCH_EVERY_MS = 60_000;
const HANDOFF_TTL_MS = 60_000;

/**
 * Sessions behind opaque cookie handles. The browser holds a random 256-bit handle; SQLite holds its
 * hash, the user, the socket it is valid for, and its lifetimes. Every sign-in creates a new handle
 * (no fixation). Revocation calls `onRevoke` so live WebSockets of those sessions close.
 */
export class SessionService {
  private readonly cache = new Map<string, { resolved: ResolvedSession; checkedAt: number }>();

  constructor(
    private readonly store: Store,
    readonly lifetimes: SessionLifetimes,
    private readonly onRevoke: (idHashes: readonly string[]) => void,
    private readonly outage: StoreOutageGrace,
  ) {}

  /** A new login session on the edge host. */
  createLogin(userId: string, now = Date.now()): { handle: string; record: SessionRecord } {
    const handle = randomHandle();
    const record = this.store.sessions.create(handle, { userId, socketId: null, parentHash: null, expiresAt: now + this.lifetimes.absoluteMs });
    return { handle, record };
  }

  /**
   * A one-time code that lets `socketId`'s host create its own session from this login. It is bound
   * to `bind`, a nonce the socket host put in a host-only cookie of the browser it sent here: the
   * code alone (in a link an attacker sends) signs no one in.
   */
  issueHandoff(login: SessionRecord, socketId: string, returnPath: string, bind: string): string {
    const code = randomHandle();
    this.store.sessions.createCode(boundCode(code, bind), { parentHash: login.idHash, socketId, returnPath, expiresAt: Date.now() + HANDOFF_TTL_MS });
    return code;
  }

  /**
   * Redeems a handoff code on the socket host it was made for, in the browser holding its nonce: a
   * new socket session, valid no longer than the login it came from. Undefined for unknown, used,
   * expired, foreign or unbound codes.
   */
  redeemHandoff(code: string, bind: string, socketId: string, now = Date.now()): { handle: string; returnPath: string } | undefined {
    if (!code || !isHandoffNonce(bind)) return undefined;
    const handoff = this.store.sessions.consumeCode(boundCode(code, bind));
    if (!handoff || handoff.socketId !== socketId) return undefined;
    const parent = this.store.sessions.find(handoff.parentHash);
    if (!parent || !this.isValid(parent, now)) return undefined;
    const handle = randomHandle();
    this.store.sessions.create(handle, { userId: parent.userId, socketId, parentHash: parent.idHash, expiresAt: parent.expiresAt });
    return { handle, returnPath: handoff.returnPath };
  }

  /** The live session for a cookie handle on this host (`socketId` null = the edge host), or undefined. */
  resolve(handle: string | undefined, socketId: string | null, now = Date.now()): ResolvedSession | undefined {
    if (!handle || handle.length > 100) return undefined;
    const cached = this.cache.get(handle);
    if (cached && this.outage.storeDown) {
      // The database is down: the cache answers alone (no re-check, no touch) until the grace ends, then 503.
      if (!this.outage.allows(now)) throw this.outage.refusal();
      return this.servedOn(cached.resolved, socketId, now);
    }
    let resolved = cached && now - cached.checkedAt < CACHE_TTL_MS ? cached.resolved : undefined;
    if (!resolved) {
      let found: ResolvedSession | undefined;
      try {
        found = this.load(handle);
      } catch (err) {
        // The re-check found the database gone: what the cache held serves within the grace.
        return this.servedOn(this.outage.cachedOnOutage(err, cached?.resolved, now), socketId, now);
      }
      this.cache.delete(handle);
      if (!found) return undefined;
      resolved = found;
      if (this.cache.size > 100_000) this.cache.clear();
      this.cache.set(handle, { resolved, checkedAt: now });
    }
    const { record } = resolved;
    if (!this.servedOn(resolved, socketId, now)) return undefined;
    if (now - record.lastSeenAt > TOUCH_EVERY_MS) {
      this.store.sessions.touch(record.idHash, now);
      resolved = { ...resolved, record: { ...record, lastSeenAt: now } };
      this.cache.set(handle, { resolved, checkedAt: now });
    }
    return resolved;
  }

  /** Whether a session (by hash) is still live: used by the sweep that closes long-lived streams. */
  isLive(idHash: string, now = Date.now()): boolean {
    const record = this.store.sessions.find(idHash);
    return record !== undefined && this.isValid(record, now);
  }

  /** Signs out one session and every socket session handed off from it. */
  signOut(record: SessionRecord): void {
    this.revoked(this.store.sessions.revokeTree(record.idHash));
  }

  /** Signs a user out of every session, everywhere. */
  signOutEverywhere(userId: string): void {
    this.revoked(this.store.sessions.revokeAllOfUser(userId));
  }

  /** Ends a user's sessions on one socket host (and their open WebSockets). */
  signOutOfSocket(userId: string, socketId: string): void {
    this.revoked(this.store.sessions.revokeAllOfUserOnSocket(userId, socketId));
  }

  /** Forgets cached lookups of a user whose identity just changed: the next request reads it afresh. */
  forgetUser(userId: string): void {
    for (const [handle, entry] of this.cache) if (entry.resolved.user.id === userId) this.cache.delete(handle);
  }

  private revoked(hashes: readonly string[]): void {
    const set = new Set(hashes);
    for (const [handle, entry] of this.cache) if (set.has(entry.resolved.record.idHash)) this.cache.delete(handle);
    this.onRevoke(hashes);
  }

  private load(handle: string): ResolvedSession | undefined {
    const record = this.store.sessions.find(hashHandle(handle));
    const user = record && userNow(this.store, record.userId);
    return record && user ? { record, user } : undefined;
  }

  /** The session, if it is live and for this host. */
  private servedOn(resolved: ResolvedSession, socketId: string | null, now: number): ResolvedSession | undefined {
    return resolved.record.socketId === socketId && this.isValid(resolved.record, now) ? resolved : undefined;
  }

  private isValid(record: SessionRecord, now: number): boolean {
    return record.revokedAt === null && now < record.expiresAt && now - record.lastSeenAt < this.lifetimes.idleMs;
  }
}
