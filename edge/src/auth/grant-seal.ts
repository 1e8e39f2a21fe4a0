import { hkdfSync } from 'node:crypto';
import { CompactEncrypt, compactDecrypt } from 'jose';
import type { ProviderGrant } from './providers/types.js';

const SALT = 'postern idp grant seal';
const ALGORITHMS = { keyManagementAlgorithms: ['dir'], contentEncryptionAlgorithms: ['A256GCM'] };

/**
 * Refresh and access tokens at rest: a JWE (RFC 7516, jose) with direct AES-256-GCM, whose key is
 * derived by HKDF-SHA256 (node:crypto) from the provider's client secret, which lives outside the
 * database in a file only the edge reads. A copy of the database alone (a backup, a dump) yields no
 * usable credential, and a refresh token is of no use without that secret anyway. The grant id is in
 * the authenticated protected header: a sealed value moved to another row does not open.
 * Rotating a client secret makes earlier seals unreadable: those sessions end at their next
 * re-validation, and their people sign in again.
 */
export class GrantSeal {
  private constructor(private readonly key: Uint8Array) {}

  static forProvider(clientSecret: string, providerId: string): GrantSeal {
    return new GrantSeal(new Uint8Array(hkdfSync('sha256', clientSecret, SALT, `v1 ${providerId}`, 32)));
  }

  seal(grantId: string, grant: ProviderGrant): Promise<string> {
    return new CompactEncrypt(new TextEncoder().encode(JSON.stringify(grant)))
      .setProtectedHeader({ alg: 'dir', enc: 'A256GCM', grant: grantId })
      .encrypt(this.key);
  }

  /** The grant sealed for `grantId`; undefined when it does not open with this key or belongs to another grant. */
  async open(grantId: string, sealed: string): Promise<ProviderGrant | undefined> {
    try {
      const { plaintext, protectedHeader } = await compactDecrypt(sealed, this.key, ALGORITHMS);
      if (protectedHeader.grant !== grantId) return undefined;
      const value: unknown = JSON.parse(new TextDecoder().decode(plaintext));
      return typeof value === 'object' && value !== null ? (value as ProviderGrant) : undefined;
    } catch {
      return undefined;
    }
  }
}
