import { createHash, randomBytes } from 'node:crypto';

/** A 256-bit random handle for cookies, codes and transactions. */
export const randomHandle = (): string => randomBytes(32).toString('base64url');

/** Handles are stored hashed: a database leak does not hand out live sessions or codes. */
export const hashHandle = (handle: string): string => createHash('sha256').update(handle).digest('base64url');
