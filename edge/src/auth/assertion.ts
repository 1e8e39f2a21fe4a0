import { randomUUID } from 'node:crypto';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK, type CryptoKey } from 'jose';
import type { SigningKeyStore } from '../store/signing-keys.js';

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

/**
 * Signs the identity assertion the app receives in `X-Postern-Assertion`: ES256 with a key used
 * for nothing else, `aud` = the socket origin, short `exp`. Assertions are reused for most of their
 * life per (session, socket), so the signing cost is paid once per minute, not per request.
 */
export class AssertionSigner {
  private readonly cache = new Map<string, { token: string; refreshAt: number }>();

  private constructor(
    private readonly signer: Signer,
    readonly jwks: { keys: JWK[] },
    private readonly issuer: string,
    private readonly ttlSeconds: number,
  ) {}

  /** Loads the newest key from the store, creating one on first start. */
  static async load(store: SigningKeyStore, issuer: string, ttlSeconds = 300): Promise<AssertionSigner> {
    let keys = store.list();
    if (keys.length === 0) {
      const { privateKey, publicKey } = await generateKeyPair(ASSERTION_ALG, { extractable: true });
      const kid = randomUUID();
      const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: ASSERTION_ALG, use: 'sig' };
      const privateJwk = { ...(await exportJWK(privateKey)), kid, alg: ASSERTION_ALG };
      store.add({ kid, privateJwk: JSON.stringify(privateJwk), publicJwk: JSON.stringify(publicJwk) });
      keys = store.list();
    }
    const newest = keys[0]!;
    const key = (await importJWK(JSON.parse(newest.privateJwk) as JWK, ASSERTION_ALG)) as CryptoKey;
    const jwks = { keys: keys.map((k) => JSON.parse(k.publicJwk) as JWK) };
    return new AssertionSigner({ kid: newest.kid, key }, jwks, issuer, ttlSeconds);
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
      .setProtectedHeader({ alg: ASSERTION_ALG, kid: this.signer.kid, typ: ASSERTION_TYP })
      .setIssuer(this.issuer)
      .setAudience(audience)
      .setSubject(claims.sub)
      .setIssuedAt(iat)
      .setExpirationTime(iat + this.ttlSeconds)
      .setJti(randomUUID())
      .sign(this.signer.key);
    if (this.cache.size > 50_000) this.cache.clear();
    this.cache.set(cacheKey, { token, refreshAt: now + Math.max(this.ttlSeconds - 60, this.ttlSeconds / 2) * 1000 });
    return token;
  }

  /** Forget cached assertions of a revoked session. */
  forget(sessionKey: string): void {
    for (const key of this.cache.keys()) if (key.startsWith(`${sessionKey} `)) this.cache.delete(key);
  }
}
