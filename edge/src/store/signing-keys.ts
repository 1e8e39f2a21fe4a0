import { ensureSigningKeys } from '../cluster/signing-keys.js';
import type { SqlDriver } from './sql/driver.js';

export interface StoredKey {
  readonly kid: string;
  readonly privateJwk: string;
  readonly publicJwk: string;
}

/** The cluster's assertion signing keys (JWK JSON), shared by every edge. Newest first. */
export class SigningKeyStore {
  constructor(private readonly db: SqlDriver) {}

  /** Every key, making the first with `generate` if there is none (edges starting together make one). */
  ensure(generate: () => Promise<StoredKey>): Promise<StoredKey[]> {
    return ensureSigningKeys(this.db, generate);
  }
}
