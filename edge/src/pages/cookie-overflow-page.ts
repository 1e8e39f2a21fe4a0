import { html, SafeHtml } from './html.js';
import { renderPage } from './layout.js';

/**
 * The parent domains whose cookies reach the edge and every socket: the edge's own host and each
 * name above it (`edge.example.com`, `example.com`). A sibling socket's page can set cookies for
 * any of them (unless the edge domain is on the Public Suffix List; see docs/SECURITY.md).
 */
export function parentCookieDomains(domain: string): string[] {
  const labels = domain.replace(/:\d+$/, '').split('.');
  const out: string[] = [];
  for (let i = 0; i < labels.length - 1; i++) out.push(labels.slice(i).join('.'));
  return out;
}

/**
 * Deletes every cookie the page can see for the parent domains, at this path and each one above it
 * (a cookie is named by name, domain and path; the path is not visible, so every candidate is
 * tried), then says how many are gone. `__Host-` cookies are the edge's own and host-only: kept.
 * Cookies a sibling's script set are never HttpOnly, so the page sees all of those; an app's
 * Set-Cookie cannot reach the parent domain through the edge at all (proxy/headers.ts).
 */
const CLEANUP = (domains: readonly string[]): string => `(function () {
  var domains = ${JSON.stringify(domains)};
  var secure = location.protocol === 'https:' ? '; Secure' : '';
  var paths = ['/'], parts = location.pathname.split('/'), path = '';
  for (var i = 1; i < parts.length; i++) { if (parts[i]) { path += '/' + parts[i]; paths.push(path); } }
  var entries = function () { return document.cookie ? document.cookie.split(';').map(function (c) { return c.trim(); }).filter(Boolean) : []; };
  var before = entries();
  before.forEach(function (entry) {
    var eq = entry.indexOf('=');
    var name = eq === -1 ? entry : entry.slice(0, eq);
    if (/^__host-/i.test(name)) return;
    var target = eq === -1 ? entry : name + '=';
    domains.forEach(function (domain) {
      paths.forEach(function (p) { document.cookie = target + '; Max-Age=0; Path=' + p + '; Domain=' + domain + secure; });
    });
  });
  var removed = before.length - entries().length;
  var out = document.getElementById('cleanup');
  if (out) out.textContent = removed > 0
    ? 'This page deleted ' + removed + ' cookie' + (removed === 1 ? '' : 's') + ' set for the whole domain. Reload to try again.'
    : 'No cookie this page can delete was found. If reloading does not help, clear this site\\'s cookies in your browser settings.';
})();`;

export function cookieOverflowPage(input: { maxHeaderBytes: number; domain: string; footer: string }): string {
  const domains = parentCookieDomains(input.domain);
  return renderPage({
    title: '431 Request headers too large',
    eyebrow: '431 · HEADERS_TOO_LARGE',
    heading: 'Your browser sent too many cookies',
    text: `The request headers are larger than ${input.maxHeaderBytes} bytes, which this edge accepts. This is almost always cookies set for the whole domain ${domains[0] ?? input.domain}, possibly by another app published on it, and then sent with every request to every app on this edge.`,
    body: html`<p id="cleanup">Removing those cookies…</p>
<div class="actions"><a class="button primary" href="">Reload</a></div>
<script>${new SafeHtml(CLEANUP(domains))}</script>`,
    footer: input.footer,
  });
}
