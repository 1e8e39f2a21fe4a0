import type { AuditLog } from '../audit/audit-log.js';
import { EdgeError } from '../errors.js';
import type { Store } from '../store/index.js';
import { randomHandle } from '../store/secrets.js';
import type { User } from '../store/users.js';
import type { IdpSessions } from './idp-sessions.js';

/** How long a person has to approve a CLI sign-in, and how often the CLI may ask. */
export const DEVICE_CODE_TTL_MS = 10 * 60_000;
export const DEVICE_POLL_INTERVAL_S = 2;
/** Tokens from `postern login` last this long unless the CLI asks for less. */
export const LOGIN_TOKEN_TTL_MS = 90 * 24 * 3600_000;

export interface DeviceStart {
  readonly device_code: string;
  readonly user_code: string;
  readonly verification_uri: string;
  readonly verification_uri_complete: string;
  readonly expires_in: number;
  readonly interval: number;
}

export interface DeviceToken {
  readonly token: string;
  readonly token_id: string;
  readonly email: string;
  readonly publisher: boolean;
  readonly expires_at: string;
}

/**
 * `postern login` by device authorization (RFC 8628): the CLI holds a secret device code and polls;
 * the person signs in on the edge in a browser and approves the short user code shown by the CLI.
 * The token is minted only when the approved CLI polls, so no secret waits in the database.
 */
export class DeviceFlow {
  constructor(
    private readonly store: Store,
    private readonly audit: AuditLog,
    private readonly edgeUrl: string,
    /** The token follows the IdP session of the login that approved it (auth/idp-sessions.ts). */
    private readonly idp?: Pick<IdpSessions, 'deviceApproved' | 'tokenIssued'>,
  ) {}

  async start(clientName: string, remote: string | null): Promise<DeviceStart> {
    const deviceCode = randomHandle();
    const auth = await this.store.devices.create(deviceCode, { clientName, remote, ttlMs: DEVICE_CODE_TTL_MS });
    const uri = `${this.edgeUrl}/device`;
    return {
      device_code: deviceCode,
      user_code: auth.userCode,
      verification_uri: uri,
      verification_uri_complete: `${uri}?code=${encodeURIComponent(auth.userCode)}`,
      expires_in: DEVICE_CODE_TTL_MS / 1000,
      interval: DEVICE_POLL_INTERVAL_S,
    };
  }

  /** One poll: the token once approved, otherwise an error whose code says what to do next. */
  async poll(deviceCode: string, remote: string | null, now = Date.now()): Promise<DeviceToken> {
    // Answered or expired: taken (deleted) by this poll alone, whatever happens next.
    const auth = await this.store.devices.settle(deviceCode, now);
    if (!auth) return this.stillPending(deviceCode, now);
    if (auth.expiresAt <= now) throw new EdgeError('DEVICE_CODE_EXPIRED', 'this sign-in request expired or is unknown: run "postern login" again');
    if (auth.status === 'denied') throw new EdgeError('DEVICE_DENIED', 'the sign-in request was denied in the browser');
    const account = auth.accountId ? await this.store.accounts.findById(auth.accountId) : undefined;
    if (!account) throw new EdgeError('DEVICE_CODE_EXPIRED', 'the approving account no longer exists: run "postern login" again');
    const expiresAt = now + LOGIN_TOKEN_TTL_MS;
    const { token, record } = await this.store.tokens.create(account.id, `postern login (${auth.clientName})`, expiresAt, auth.userId);
    await this.idp?.tokenIssued(auth.deviceHash, record.id);
    this.audit.record({ type: 'token.create', accountId: account.id, actor: account.email, remote, detail: { token_id: record.id, name: record.name, via: 'device login' } });
    return { token, token_id: record.id, email: account.email, publisher: account.publisher, expires_at: new Date(expiresAt).toISOString() };
  }

  /** A poll of a pending (or unknown, or just taken) authorization: always an error saying what to do next. */
  private async stillPending(deviceCode: string, now: number): Promise<never> {
    const auth = await this.store.devices.findByDeviceCode(deviceCode);
    if (!auth) throw new EdgeError('DEVICE_CODE_EXPIRED', 'this sign-in request expired or is unknown: run "postern login" again');
    const tooFast = auth.lastPollAt !== null && now - auth.lastPollAt < DEVICE_POLL_INTERVAL_S * 1000 - 250;
    await this.store.devices.recordPoll(auth.deviceHash, now);
    if (tooFast) throw new EdgeError('SLOW_DOWN', `poll at most every ${DEVICE_POLL_INTERVAL_S} s`);
    throw new EdgeError('AUTHORIZATION_PENDING', 'waiting for the sign-in to be approved in the browser');
  }

  /**
   * The signed-in person's answer. Approving makes (or finds) the account of their verified email;
   * an account made this way may reach sockets, and publishes only once the admin allows it.
   */
  async answer(userCode: string, user: User, approve: boolean, remote: string | null, loginHash?: string): Promise<{ ok: true; clientName: string } | { ok: false; message: string }> {
    const unusable = { ok: false, message: 'This code is unknown, expired or already used. Run "postern login" again for a new one.' } as const;
    const pending = await this.store.devices.findByUserCode(userCode);
    if (!pending || pending.expiresAt <= Date.now() || pending.status !== 'pending') return unusable;
    if (!approve) {
      const auth = await this.store.devices.answer(userCode, { status: 'denied' });
      if (!auth) return unusable;
      this.audit.record({ type: 'device.deny', actor: user.email ?? user.id, remote, detail: { client: auth.clientName } });
      return { ok: true, clientName: auth.clientName };
    }
    if (!user.email) return { ok: false, message: 'Your sign-in did not include a verified email address, which a Postern account needs.' };
    const { account } = await this.store.accounts.ensure(user.email, { publisher: false });
    // The grant link is made first: a CLI polling the moment the approval lands must find it.
    if (loginHash) await this.idp?.deviceApproved(pending.deviceHash, loginHash, pending.expiresAt);
    const auth = await this.store.devices.answer(userCode, { status: 'approved', userId: user.id, accountId: account.id });
    if (!auth) return unusable;
    this.audit.record({ type: 'device.approve', accountId: account.id, actor: user.email, remote, detail: { client: auth.clientName, cli_address: auth.remote } });
    return { ok: true, clientName: auth.clientName };
  }
}
