/**
 * Path patterns and the request path they are matched against.
 *
 * A rule matches the path the app will act on. The app receives the target exactly as the client
 * sent it and decodes it once; the gate decodes it once too. Every spelling that two HTTP stacks
 * could read as different paths (SECURITY.md rule 8; Pomerium CVE-2021-39206, CVE-2023-33189) is
 * refused where path rules apply, so that the decoded path is the only reading there is:
 * encoded `/`, `\` or `%`, a raw `\`, dot segments (`.`/`..`, also encoded), empty segments (`//`),
 * `;` parameters (Tomcat and Spring cut them), control characters, and invalid UTF-8.
 */

export type PathMatcher = (path: string) => boolean;

export class PathPatternError extends Error {}

/**
 * A pattern as written in a rule, checked: starts with `/`, printable ASCII or UTF-8 text, no
 * query, no segment a request could never have.
 */
export function normalisePathPattern(raw: string): string {
  const pattern = raw.trim();
  if (!pattern.startsWith('/')) throw new PathPatternError('must start with "/"');
  if (/[\s\x00-\x1f\x7f]/.test(pattern)) throw new PathPatternError('must not contain spaces or control characters');
  if (!/^\/\P{C}*$/u.test(pattern)) throw new PathPatternError('must be printable text');
  if (/[?#]/.test(pattern)) throw new PathPatternError('is matched against the path alone: leave out "?" and "#"');
  if (pattern.includes('%')) throw new PathPatternError('is matched against the decoded path: write the characters, not %-escapes');
  if (pattern.includes('**')) throw new PathPatternError('one "*" is enough: a trailing "*" already matches across "/"');
  const segments = pattern.slice(1).split('/');
  if (segments.slice(0, -1).some((s) => s === '') || segments.some((s) => s === '.' || s === '..') || pattern.includes('\\') || pattern.includes(';')) {
    throw new PathPatternError('names a path the edge refuses (empty or dot segments, "\\" or ";")');
  }
  return pattern;
}

/**
 * `/health` exact; `/admin/*` the subtree (`/admin` itself and everything under it); `/api*` any
 * path that starts so; other `*`s match within one segment (`/v*\/status`).
 */
export function compilePathPattern(pattern: string): PathMatcher {
  const stars = pattern.split('*').length - 1;
  if (stars === 0) return (path) => path === pattern;
  if (stars === 1 && pattern.endsWith('/*')) {
    const base = pattern.slice(0, -2);
    const under = `${base}/`;
    return (path) => path === base || path.startsWith(under);
  }
  if (stars === 1 && pattern.endsWith('*')) {
    const prefix = pattern.slice(0, -1);
    return (path) => path.startsWith(prefix);
  }
  const parts = pattern.split('*').map(escapeRegExp);
  const last = parts.pop()!;
  let source = parts.join('[^/]*');
  // A trailing `*` keeps its prefix meaning (and `/*` its subtree meaning) after other stars.
  if (last === '' && source.endsWith('/')) source = `${source.slice(0, -1)}(?:/.*)?`;
  else if (last === '') source += '.*';
  else source += `[^/]*${last}`;
  const re = new RegExp(`^${source}$`, 'u');
  return (path) => re.test(path);
}

const escapeRegExp = (s: string): string => s.replace(/[.+?^${}()|[\]\\]/g, '\\$&');

export type RequestPath = { readonly path: string } | { readonly problem: string };

/** Percent-escapes whose decoding some stack reads as structure: `/`, `\`, `%`, NUL and controls. */
const STRUCTURAL_ESCAPE = /%(?:2f|5c|25|[01][0-9a-f]|7f)/i;

/**
 * The path of a request target as the app will read it, or why it is refused. `*` (OPTIONS *) is
 * its own path. Without path rules the edge does not call this: the target passes as sent.
 */
export function requestPath(target: string): RequestPath {
  const end = target.search(/[?#]/);
  const raw = end === -1 ? target : target.slice(0, end);
  if (raw === '*') return { path: '*' };
  if (raw.includes('\\')) return { problem: 'a backslash in the path' };
  if (raw.includes(';')) return { problem: 'a ";" parameter in the path' };
  if (STRUCTURAL_ESCAPE.test(raw)) return { problem: 'an encoded "/", "\\", "%" or control character in the path' };
  let path: string;
  try {
    path = raw.includes('%') ? decodeURIComponent(raw) : raw;
  } catch {
    return { problem: 'an invalid %-escape in the path' };
  }
  if (/[\x00-\x1f\x7f]/.test(path)) return { problem: 'a control character in the path' };
  const segments = path.slice(1).split('/');
  if (segments.some((s, i) => s === '.' || s === '..' || (s === '' && i < segments.length - 1))) {
    return { problem: 'an empty or dot segment in the path' };
  }
  return { path };
}
