/** The edge's icon: an arched gate (a postern) on the brand blue. SVG, so one small file fits every size. */
export const FAVICON_SVG =
  '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32"><rect width="32" height="32" rx="7" fill="#1f4fd8"/><path d="M10 26V15a6 6 0 0 1 12 0v11z" fill="#fff"/></svg>';

/**
 * Where pages link the icon: a reserved path served on the edge's host and on every socket's host
 * alike. An edge page on a socket's host (403, errors) must not make the browser fetch that app's
 * /favicon.ico, which belongs to the app and may sit behind sign-in.
 */
export const FAVICON_PATH = '/.postern/favicon.svg';

export const FAVICON_HEADERS = { 'content-type': 'image/svg+xml', 'cache-control': 'public, max-age=86400' } as const;
