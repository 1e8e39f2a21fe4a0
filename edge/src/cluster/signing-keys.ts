import type { StoredKey } from '../store/signing-keys.js';
import type { Queryable, SqlDriver } from '../store/sql/driver.js';

const listKeys = async (db: Queryable): Promise<StoredKey[]> =>
  (await db.query<{ kid: string; private_jwk: string; public_jwk: string }>('SELECT kid, private_jwk, public_jwk FROM signing_keys ORDER BY created_at DESC, kid')).map(
    (row) => ({ kid: row.kid, privateJwk: row.private_jwk, publicJwk: row.public_jwk }),
  );

/**
 * Every signing key of the cluster, newest first, making the first one if there is none. Edges that
 * start together on an empty database wait on one lock, so exactly one key is made; every edge then
 * signs with the newest and lists all of them in its JWKS.
 */
export async function ensureSigningKeys(db: SqlDriver, generate: () => Promise<StoredKey>): Promise<StoredKey[]> {
  const keys = await listKeys(db);
  if (keys.length > 0) return keys;
  return db.transaction(async (tx) => {
    await tx.lock('signing-keys');
    const again = await listKeys(tx);
    if (again.length > 0) return again;
    const key = await generate();
    await tx.exec('INSERT INTO signing_keys (kid, private_jwk, public_jwk, created_at) VALUES (?, ?, ?, ?)', [key.kid, key.privateJwk, key.publicJwk, Date.now()]);
    return listKeys(tx);
  });
}
