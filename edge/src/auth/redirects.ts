/**
 * Redirect targets after sign-in and sign-out: only our own names. A target is either a path on the
 * current host or the exact origin of a known socket (plus a path). Everything else falls back.
 */

/**
 * Whether `path` can only be read as a path on the current host: one leading `/`, no backslash, no
 * control or whitespace characters, no percent-encoded slash or backslash at the start.
 */
function isPlainLocalPath(path: string): boolean {
  if (!path.startsWith('/') || path.startsWith('//')) return false;
  // Browsers treat `\` like `/` and drop tabs/newlines: `/\evil.com` and `/\t/evil.com` are off-site.
  if (/[\\\u0000-\u0020\u007f-\u009f]/.test(path)) return false;
  // Percent-encoded slashes or backslashes at the start decode to the same tricks in some stacks.
  return !/^\/%(2f|5c)/i.test(path);
}

/**
 * A same-host path, normalised (dot segments resolved). The check runs on the input and again on
 * what normalisation made of it: `/.//evil.com` and `/a/..//evil.com` are plain paths that
 * normalise to the protocol-relative `//evil.com`.
 */
export function safeLocalPath(raw: string | undefined | null, fallback = '/'): string {
  if (typeof raw !== 'string' || raw.length === 0 || raw.length > 2048 || !isPlainLocalPath(raw)) return fallback;
  try {
    const resolved = new URL(raw, 'http://postern.invalid');
    if (resolved.origin !== 'http://postern.invalid') return fallback;
    const path = resolved.pathname + resolved.search + resolved.hash;
    return isPlainLocalPath(path) ? path : fallback;
  } catch {
    return fallback;
  }
}

export interface ReturnTarget {
  /** null: the edge host itself. */
  readonly socketOrigin: string | null;
  readonly path: string;
}

/**
 * Parses a `rd` value: an edge-local path, or an absolute URL whose origin is exactly a known socket
 * origin. `isSocketOrigin` answers from the socket table.
 */
export function parseReturnTarget(raw: string | undefined | null, isSocketOrigin: (origin: string) => boolean): ReturnTarget {
  if (typeof raw === 'string' && /^https?:\/\//i.test(raw) && !/[\\\u0000-\u0020\u007f-\u009f]/.test(raw)) {
    try {
      const url = new URL(raw);
      if (!url.username && !url.password && isSocketOrigin(url.origin)) {
        return { socketOrigin: url.origin, path: safeLocalPath(url.pathname + url.search + url.hash) };
      }
    } catch {
      /* not a URL: fall through */
    }
    return { socketOrigin: null, path: '/' };
  }
  return { socketOrigin: null, path: safeLocalPath(raw) };
}

/** Serialises a target back into an `rd` value. */
export const returnTargetToString = (t: ReturnTarget): string => (t.socketOrigin ? `${t.socketOrigin}${t.path}` : t.path);
