import type { Db } from './db.js';

export interface StoredKey {
  readonly kid: string;
  readonly privateJwk: string;
  readonly publicJwk: string;
}

/** The edge's assertion signing keys (JWK JSON). Newest first. */
export class SigningKeyStore {
  private readonly insert;
  private readonly all;

  constructor(db: Db) {
    this.insert = db.prepare<[string, string, string, number]>('INSERT INTO signing_keys (kid, private_jwk, public_jwk, created_at) VALUES (?, ?, ?, ?)');
    this.all = db.prepare<[], { kid: string; private_jwk: string; public_jwk: string }>('SELECT * FROM signing_keys ORDER BY created_at DESC');
  }

  list(): StoredKey[] {
    return this.all.all().map((r) => ({ kid: r.kid, privateJwk: r.private_jwk, publicJwk: r.public_jwk }));
  }

  add(key: StoredKey): void {
    this.insert.run(key.kid, key.privateJwk, key.publicJwk, Date.now());
  }
}
