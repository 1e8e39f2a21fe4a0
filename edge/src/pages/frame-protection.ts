/**
 * Headers on every page the edge renders itself: no site may frame them (clickjacking the sign-out,
 * hand-off and device-approval buttons, or a hidden iframe walking a visitor through a flow). Both
 * spellings: CSP `frame-ancestors` for current browsers, X-Frame-Options for the rest.
 */
export const EDGE_PAGE_HEADERS: Readonly<Record<string, string>> = {
  'x-frame-options': 'DENY',
  'content-security-policy': "frame-ancestors 'none'",
};
