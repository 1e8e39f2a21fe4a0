/**
 * Local-account passwords: scrypt hashes in a self-describing string
 * `scrypt$<N>$<r>$<p>$<salt base64>$<hash base64>`. No storage here (store/passwords.ts keeps them).
 *
 * Passwords are NFKC-normalised before hashing (NIST SP 800-63B §5.1.1.2), so the same password typed
 * on two keyboards or in two Unicode forms verifies. Changing this later would invalidate hashes.
 */
import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';

/** Shortest password accepted when one is set (in Unicode characters). */
export const MIN_PASSWORD_LENGTH = 8;
/** Longest password accepted when one is set or checked (in Unicode characters). */
export const MAX_PASSWORD_LENGTH = 1024;

const PREFIX = 'scrypt';
const N = 2 ** 15;
const R = 8;
const P = 1;
const SALT_BYTES = 16;
const KEY_BYTES = 32;

/** Bounds on parameters read back from a stored string, so a bad row cannot cost unbounded memory. */
const LIMITS = { minLogN: 14, maxLogN: 20, maxR: 16, maxP: 4, minSalt: 16, maxSalt: 64 } as const;

interface Parsed {
  readonly n: number;
  readonly r: number;
  readonly p: number;
  readonly salt: Buffer;
  readonly hash: Buffer;
}

/** Why a new password is not acceptable, or null when it is. The message is safe to show. */
export function passwordPolicyError(password: string): string | null {
  const length = [...password.normalize('NFKC')].length;
  if (length < MIN_PASSWORD_LENGTH) return `Password must be at least ${MIN_PASSWORD_LENGTH} characters`;
  if (length > MAX_PASSWORD_LENGTH) return `Password must be at most ${MAX_PASSWORD_LENGTH} characters`;
  return null;
}

/** Hashes a new password. Throws RangeError when it breaks the length policy. */
export async function hashPassword(password: string): Promise<string> {
  const problem = passwordPolicyError(password);
  if (problem) throw new RangeError(problem);
  const salt = randomBytes(SALT_BYTES);
  const hash = await derive(password, salt, N, R, P, KEY_BYTES);
  return [PREFIX, N, R, P, salt.toString('base64'), hash.toString('base64')].join('$');
}

/**
 * Checks a password against a stored string. With `stored` null (no such account) or malformed, it
 * still spends one scrypt with the current parameters and returns false, so the answer time does not
 * tell which accounts exist.
 */
export async function verifyPassword(password: string, stored: string | null | undefined): Promise<boolean> {
  const parsed = typeof stored === 'string' ? parse(stored) : null;
  if (parsed === null || !withinMaxLength(password)) {
    await verifyUnknown(password);
    return false;
  }
  const candidate = await derive(password, parsed.salt, parsed.n, parsed.r, parsed.p, parsed.hash.length);
  return timingSafeEqual(candidate, parsed.hash);
}

/** The same work as a real verification, for an account that does not exist. Always false. */
export async function verifyUnknown(password: string): Promise<false> {
  const input = withinMaxLength(password) ? password : '';
  const candidate = await derive(input, randomBytes(SALT_BYTES), N, R, P, KEY_BYTES);
  timingSafeEqual(candidate, candidate);
  return false;
}

/** True when a stored hash uses other parameters than today's (rehash it after a good sign-in). */
export function needsRehash(stored: string): boolean {
  const parsed = parse(stored);
  return parsed === null || parsed.n !== N || parsed.r !== R || parsed.p !== P || parsed.salt.length !== SALT_BYTES;
}

function withinMaxLength(password: string): boolean {
  // Cheap pre-check before the code-point count, so a huge input is not normalised.
  return password.length <= MAX_PASSWORD_LENGTH * 2 && [...password.normalize('NFKC')].length <= MAX_PASSWORD_LENGTH;
}

function derive(password: string, salt: Buffer, n: number, r: number, p: number, keyLength: number): Promise<Buffer> {
  // scrypt needs 128 * N * r * p bytes (plus a little); Node's default cap is 32 MiB.
  const options: ScryptOptions = { N: n, r, p, maxmem: 128 * n * r * p + 16 * 1024 * 1024 };
  return new Promise((resolve, reject) => {
    scrypt(password.normalize('NFKC'), salt, keyLength, options, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

const DECIMAL = /^[1-9][0-9]{0,9}$/;

function parse(stored: string): Parsed | null {
  const parts = stored.split('$');
  if (parts.length !== 6) return null;
  const [prefix, nText, rText, pText, saltText, hashText] = parts as [string, string, string, string, string, string];
  if (prefix !== PREFIX || !DECIMAL.test(nText) || !DECIMAL.test(rText) || !DECIMAL.test(pText)) return null;
  const n = Number(nText);
  const r = Number(rText);
  const p = Number(pText);
  const logN = Math.log2(n);
  if (!Number.isInteger(logN) || logN < LIMITS.minLogN || logN > LIMITS.maxLogN) return null;
  if (r > LIMITS.maxR || p > LIMITS.maxP) return null;
  const salt = strictBase64(saltText);
  const hash = strictBase64(hashText);
  if (!salt || !hash) return null;
  if (salt.length < LIMITS.minSalt || salt.length > LIMITS.maxSalt) return null;
  // Exactly our key length: scrypt output is a prefix family, so a truncated hash would still match.
  if (hash.length !== KEY_BYTES) return null;
  return { n, r, p, salt, hash };
}

/** Canonical padded base64 only (Buffer.from silently skips junk characters). */
function strictBase64(text: string): Buffer | null {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text)) return null;
  const bytes = Buffer.from(text, 'base64');
  return bytes.toString('base64') === text ? bytes : null;
}
