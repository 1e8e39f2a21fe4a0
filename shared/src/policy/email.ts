/**
 * Email addresses as rules see them: exactly one `@`, printable ASCII only (a Unicode look-alike
 * never equals an ASCII rule), lower-cased, no trailing dot on the domain, no surrounding whitespace
 * (an IdP's "a@corp.com\n" is not a@corp.com; callers trim only what a person typed). Anything else
 * is null, and a null email never matches a rule.
 */
const LOCAL = /^[a-z0-9!#$%&'*+/=?^_`{|}~.-]{1,64}$/;
const LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
/**
 * Checked before lower-casing, not after: Unicode case mapping turns one look-alike into ASCII
 * (U+212A KELVIN SIGN lower-cases to `k`), so `\u212Aate@corp.com` would become kate@corp.com.
 */
const PRINTABLE_ASCII = /^[\x21-\x7e]*$/;

export function normalizeEmail(raw: string): string | null {
  if (!PRINTABLE_ASCII.test(raw)) return null;
  const email = raw.toLowerCase();
  const at = email.indexOf('@');
  if (at <= 0 || at !== email.lastIndexOf('@')) return null;
  const local = email.slice(0, at);
  const domain = email.slice(at + 1);
  if (!LOCAL.test(local) || local.startsWith('.') || local.endsWith('.') || local.includes('..')) return null;
  return normalizeDomain(domain) === domain ? email : null;
}

/** A domain as written in a rule or an address: lower-case DNS labels, at least two, no trailing dot. */
export function normalizeDomain(raw: string): string | null {
  const trimmed = raw.trim();
  if (!PRINTABLE_ASCII.test(trimmed) || trimmed.length > 253) return null;
  const domain = trimmed.toLowerCase();
  const labels = domain.split('.');
  if (labels.length < 2 || !labels.every((l) => LABEL.test(l))) return null;
  return domain;
}

/** The domain part of a normalized email. */
export const emailDomain = (email: string): string => email.slice(email.indexOf('@') + 1);
