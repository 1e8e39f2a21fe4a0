import Database from 'better-sqlite3';

/**
 * Moves a token's expiry into the past in the edge's SQLite file, as time would: the API's
 * shortest expiry is a minute, too long to wait for in a test.
 */
export function expireToken(dbPath: string, tokenId: string): void {
  const db = new Database(dbPath);
  try {
    const changed = db.prepare('UPDATE api_tokens SET expires_at = ? WHERE id = ?').run(Date.now() - 1_000, tokenId).changes;
    if (changed !== 1) throw new Error(`no token ${tokenId} in ${dbPath}`);
  } finally {
    db.close();
  }
}
