import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK, type CryptoKey } from 'jose';
import type { ChangeFeed } from '../cluster/change-feed.js';
import type { SigningKeyStore, StoredKey } from '../store/signing-keys.js';

/** The `typ` of Postern assertions: no other token the edge issues shares it (no type confusion). */
export const ASSERTION_TYP = 'postern-assertion+jwt';
export const ASSERTION_ALG = 'ES256';

export interface AssertionClaims {
  readonly sub: string;
  readonly email: string | null;
  readonly name: string | null;
  readonly groups: readonly string[];
}

interface Signer {
  readonly kid: string;
  readonly key: CryptoKey;
}

/** A new ES256 key pair as JWK JSON (the first key of a cluster). */
async function generateKey(): Promise<StoredKey> {
  const { privateKey, publicKey } = await generateKeyPair(ASSERTION_ALG, { extractable: true });
  const kid = randomUUID();
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: ASSERTION_ALG, use: 'sig' };
  const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: ASSERTION_ALG };
  return { kid, privateJwk: JSON.stringify(privateJwk), publicJwk: JSON.stringify(publicJwk) };
}

/** Signs with the newest key; the JWKS lists every key of the cluster (an app may hold assertions of any). */
async function keyring(keys: readonly StoredKey[]): Promise<{ signer: Signer; jwks: { keys: JWK[] } }> {
  const newest = keys[0]!;
  const key = (await importJWK(JSON.parse(newest.privateJwk) as JWK, ASSERTION_ALG)) as CryptoKey;
  return { signer: { kid: newest.kid, key }, jwks: { keys: keys.map((k) => JSON.parse(k.publicJwk) as JWK) } };
}

/**
 * Signs the identity assertion the app receives in `X-Postern-Assertion`: ES256 with a key used
 * for nothing else, `aud` = the socket origin, short `exp`. Assertions are reused for most of their
 * life per (session, socket), so the signing cost is paid once per minute, not per request.
 */
export class AssertionSigner {
  private readonly cache = new Map<string, { token: string; refreshAt: number }>();

  private constructor(
    private ring: { signer: Signer; jwks: { keys: JWK[] } },
    private readonly issuer: string,
    private readonly ttlSeconds: number,
  ) {}

  /**
   * Loads the cluster's keys, making the first if there is none (edges starting together make one),
   * and loads them again whenever the feed says they changed (or that changes may have been missed).
   */
  static async load(store: SigningKeyStore, changes: ChangeFeed, issuer: string, ttlSeconds = 300): Promise<AssertionSigner> {
    const signer = new AssertionSigner(await keyring(await store.ensure(generateKey)), issuer, ttlSeconds);
    let reloading = Promise.resolve();
    changes.subscribe((event) => {
      if (event.type === 'change' && event.change.topic !== 'signing-keys') return;
      // In order, so an older list never replaces a newer one; a failed reload keeps the keys in use.
      reloading = reloading.then(async () => {
        const next = await keyring(await store.ensure(generateKey));
        if (next.signer.kid !== signer.ring.signer.kid) signer.cache.clear(); // sign with the newest from now on
        signer.ring = next;
      }).catch(() => undefined);
    });
    return signer;
  }

  /** Every public key of the cluster, for `/.well-known/jwks.json`. */
  get jwks(): { keys: JWK[] } {
    return this.ring.jwks;
  }

  /** The cached assertion for this session and audience, if still fresh (the per-request fast path). */
  cached(sessionKey: string, audience: string, now = Date.now()): string | undefined {
    const cached = this.cache.get(`${sessionKey} ${audience}`);
    return cached && cached.refreshAt > now ? cached.token : undefined;
  }

  /** A signed assertion for this session and audience, reused until a minute before it expires. */
  async assertion(sessionKey: string, audience: string, claims: AssertionClaims, now = Date.now()): Promise<string> {
    const cacheKey = `${sessionKey} ${audience}`;
    const fresh = this.cached(sessionKey, audience, now);
    if (fresh) return fresh;
    const iat = Math.floor(now / 1000);
    const token = await new SignJWT({ email: claims.email, name: claims.name, groups: [...claims.groups] })
      .setProtectedHeader({ alg: ASSERTION_ALG, kid: this.ring.signer.kid, typ: ASSERTION_TYP })
      .setIssuer(this.issuer)
      .setAudience(audience)
      .setSubject(claims.sub)
      .setIssuedAt(iat)
      .setExpirationTime(iat + this.ttlSeconds)
      .setJti(randomUUID())
      .sign(this.ring.signer.key);
    if (this.cache.size > 50_000) this.cache.clear();
    this.cache.set(cacheKey, { token, refreshAt: now + Math.max(this.ttlSeconds - 60, this.ttlSeconds / 2) * 1000 });
    return token;
  }

  /** Forget cached assertions of a revoked session. */
  forget(sessionKey: string): void {
    for (const key of this.cache.keys()) if (key.startsWith(`${sessionKey} `)) this.cache.delete(key);
  }
}
