/**
 * An open-redirect corpus generated from the known bypass families (oauth2-proxy's GHSA-qqxw-m5fj-f7gv
 * and follow-ups, Pomerium, the usual cheat sheets), combined over the names this edge accepts: the
 * edge host, its socket origins, and edge paths that redirect again. Every payload is a value for a
 * redirect parameter (`rd`, a post-logout target, a device code); the edge must answer with a
 * Location on its own names only, or none.
 */

export interface CorpusTargets {
  /** The edge's authority (`localhost:PORT`). */
  readonly edgeHost: string;
  /** Exact origins of known sockets (`http://alpha-x1.localhost:PORT`). */
  readonly socketOrigins: readonly string[];
  /** The attacker's host name. */
  readonly evil: string;
}

export interface RedirectPayload {
  readonly family: string;
  readonly value: string;
}

/** Characters browsers strip, fold or choke on inside URLs. */
const SPACES = ['\t', '\n', '\r', '\0', ' ', '\x0b', '\x0c', '\x1b', '\x7f', '\u00a0', '\u2028', '\u3000', '\ufeff'];

/** Ways to say "the host that follows is the authority" without writing `//`. */
const AUTHORITY_OPENERS = [
  '//', '///', '////', '\\\\', '/\\', '\\/', '/\\/', '\\/\\/', '/\\\\', '\\\\\\', '/\t/', '/\n/', '/\r/', '\t//', ' //', '%2f%2f', '%2F%2F',
  '/%2f', '/%2F', '/%5c', '/%5C', '%5c%5c', '/%5c%5c', '/%252f%252f', '/%252f', '%252f%252f', '/%09/', '/%0a/', '/%0d/', '/%00/',
  '/./', '/.//', '/.\\', '/./\\', '/%2e//', '/%2e%2e//', '/.%2e//', '/a/..//', '/../../..//', '/././/', '/x/./..//', '/%2e/%2f',
];

/** Scheme spellings that parse (or are hoped to parse) as a web or script URL. */
const SCHEMES = [
  'http:', 'https:', 'HTTP:', 'hTtPs:', 'http:/', 'https:/', 'http:\\\\', 'https:\\', 'http:/\\', 'http:\\/', 'http:///', 'https:////',
  ' http:', '\thttp:', 'http\t:', 'ht\ttp:', '%68ttp:', 'http%3a', 'http%3A%2F%2F', 'ftp:', 'ws:', 'wss:', 'file:', 'blob:http:',
];

const SCRIPTS = [
  'javascript:alert(1)', 'JaVaScRiPt:alert(1)', 'JAVASCRIPT:alert(1)', ' javascript:alert(1)', '\tjavascript:alert(1)',
  'java\tscript:alert(1)', 'java\nscript:alert(1)', 'java\0script:alert(1)', 'javascript\t:alert(1)', '\x01javascript:alert(1)',
  'javascript://%0aalert(1)', 'javascript://evil.com/%0aalert(1)', 'javascript:/\\evil.com/%0aalert(1)', 'javascript%3aalert(1)',
  '%6aavascript:alert(1)', 'jav&#x09;ascript:alert(1)', 'javascript&colon;alert(1)', 'data:text/html,<script>alert(1)</script>',
  'data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==', 'DATA:text/html,x', ' data:text/html,x', 'vbscript:msgbox(1)',
  'blob:http://evil.com/uuid', 'filesystem:http://evil.com/x', 'view-source:http://evil.com', 'about:blank', 'intent://evil.com#Intent;end',
];

/** Host spellings that are, or look like, the attacker's. */
function evilHosts(evil: string, port: string): string[] {
  const [label, tld] = [evil.slice(0, evil.lastIndexOf('.')), evil.slice(evil.lastIndexOf('.') + 1)];
  return [
    evil, `${label}\u3002${tld}`, `${evil}:${port}`, `\uff45\uff56\uff49\uff4c.${tld}`, `${evil}/`, `${evil}:443`, `${evil}%2f`, `${evil}%23`, `${evil}?`, `${evil}#`, evil.toUpperCase(),
    `${label}\uff0e${tld}`, `${label}\uff61${tld}`, `${label}%E3%80%82${tld}`,
    `${evil}.`, `[::1]`, `[::ffff:7f00:1]`, '0x7f000001', '2130706433', '127.1', `xn--${label}-.${tld}`, `${evil}\\`, `${evil}%5c`,
  ];
}

function hostOf(origin: string): string {
  return new URL(origin).host;
}

/**
 * Prefix × host products: the bulk of the structural families. Every opener and scheme is tried
 * with a few core spellings of the attacker's host; every spelling with the classic openers.
 */
function structural(t: CorpusTargets, port: string): RedirectPayload[] {
  const out: RedirectPayload[] = [];
  const hosts = evilHosts(t.evil, port);
  for (const host of hosts.slice(0, 4)) {
    for (const opener of AUTHORITY_OPENERS) out.push({ family: 'slashes-backslashes-dots-encodings', value: `${opener}${host}` });
    for (const scheme of SCHEMES) {
      out.push({ family: 'scheme', value: `${scheme}//${host}` });
      out.push({ family: 'scheme', value: `${scheme}${host}` });
    }
  }
  for (const host of hosts) {
    for (const opener of ['//', '/\\', '/.//', 'http://', 'https:', 'http:/']) out.push({ family: 'host-spelling', value: `${opener}${host}` });
  }
  return out;
}

function whitespace(t: CorpusTargets): RedirectPayload[] {
  const out: RedirectPayload[] = [];
  for (const c of SPACES) {
    const e = t.evil;
    for (const value of [`${c}//${e}`, `/${c}/${e}`, `//${c}${e}`, `/${c}\\${e}`, `\\${c}\\${e}`, `//${e}${c}`, `${c}/${c}/${e}`, `/${c}${c}/${e}`, `${c}https://${e}`, `/.${c}//${e}`]) {
      out.push({ family: 'whitespace-control', value });
    }
  }
  return out;
}

/** Userinfo: our name before `@`, the attacker's after (and the reverse, which must still be refused or land on us). */
function userinfo(t: CorpusTargets): RedirectPayload[] {
  const ours = [t.edgeHost, ...t.socketOrigins.map(hostOf), t.edgeHost.split(':')[0]!];
  const out: RedirectPayload[] = [];
  for (const our of ours) {
    const e = t.evil;
    for (const value of [
      `https://${our}@${e}`, `http://${our}@${e}`, `http://${our}@${e}/`, `//${our}@${e}`, `//${our}%40${e}`, `http://${our}%40${e}`,
      `http://${our}:pw@${e}`, `http://${our}\\@${e}`, `http://${our}%5c@${e}`, `http://${our}%2f@${e}`, `http://${our}&@${e}`,
      `http://${our};@${e}`, `http://${our}@@${e}`, `http://${e}@${our}`, `http://${e}%23@${our}/`, `http://${e}#@${our}`,
      `http://${e}?@${our}/`, `http://${e}\\@${our}`, `http://${e}%5c@${our}`, `/${our}@${e}`, `${our}@${e}`, `@${e}`, `//@${e}`,
      `http://${our}\t@${e}`, `http://${our}%09@${e}`, `http://${our}.${e}/`, `http://${our}%2e${e}/`,
    ]) out.push({ family: 'userinfo', value });
  }
  return out;
}

/** Look-alikes of our names: suffix and prefix tricks, unknown siblings, other ports and schemes. */
function lookalikes(t: CorpusTargets, port: string): RedirectPayload[] {
  const [edgeName] = t.edgeHost.split(':') as [string];
  const out: RedirectPayload[] = [];
  const add = (value: string) => out.push({ family: 'look-alike-host', value });
  for (const host of [
    `evil-${edgeName}:${port}`, `${edgeName}.${t.evil}:${port}`, `${edgeName}${t.evil}`, `evil${edgeName}:${port}`, `${edgeName}-evil:${port}`,
    `sibling.${edgeName}.evil`, `nosuch-zzzz.${edgeName}:${port}`, `a.b.${edgeName}:${port}`, `127.0.0.1:${port}`, `[::1]:${port}`,
    `${edgeName}:${Number(port) + 1}`, `${edgeName}.:${port}`, `${edgeName}:${port}.${t.evil}`,
  ]) {
    add(`http://${host}/`);
    add(`//${host}/`);
  }
  for (const origin of t.socketOrigins) {
    const url = new URL(origin);
    const [label, ...rest] = url.hostname.split('.');
    const parent = rest.join('.');
    for (const value of [
      `https://${url.host}/`, `ws://${url.host}/`, `http://${url.hostname}:${Number(port) + 1}/`, `http://${url.hostname}/`, `http://${url.hostname}:80/`,
      `http://${url.host}.${t.evil}/`, `http://${url.hostname}.${t.evil}:${port}/`, `http://${url.hostname}:${port}${t.evil}`, `http://${label}-${parent}:${port}/`,
      `http://x${url.host}/`, `http://${label}x.${parent}:${port}/`, `http://${label}.${t.evil}/`, `http://${url.hostname}\u3002${t.evil}/`,
      `http://${url.hostname}:${port}:${port}/`, `http://${url.hostname}:0/`, `http://${url.hostname}:${port}@${t.evil}:${port}/`,
      `http://${url.hostname}%00.${t.evil}/`, `http://${url.hostname}%2f.${t.evil}/`, `http://[${url.hostname}]/`,
    ]) add(value);
  }
  return out;
}

/** Our own socket origins with off-site tails: path, authority and parser tricks after a good prefix. */
function socketTails(t: CorpusTargets): RedirectPayload[] {
  const e = t.evil;
  const tails = [
    '', '/', '//', `//${e}`, `///${e}`, `/\\${e}`, `\\${e}`, `/.//${e}`, `/./\\${e}`, `/%2e//${e}`, `/%2e%2e//${e}`, `/a/..//${e}`,
    `/..//${e}`, `/%2f%2f${e}`, `/%5c${e}`, `/%252f%252f${e}`, `@${e}`, `%40${e}`, `\\@${e}`, `#@${e}`, `?@${e}`, `.${e}`, `%2e${e}`,
    `/\t/${e}`, `/?next=//${e}`, `/#//${e}`, `/auth/../..//${e}`, `/.postern/callback?code=x`, `/.postern/../..//${e}`, `:${e}`, `\t`, `/%0d%0aSet-Cookie:x=1`,
  ];
  const out: RedirectPayload[] = [];
  for (const origin of t.socketOrigins) {
    for (const tail of tails) {
      out.push({ family: 'socket-origin-tail', value: `${origin}${tail}` });
      out.push({ family: 'socket-origin-tail', value: `${origin.toUpperCase()}${tail}` });
    }
  }
  return out;
}

/** Edge paths that redirect again: the nested target must be checked too. */
function nested(t: CorpusTargets): RedirectPayload[] {
  const e = t.evil;
  const inner = [`//${e}`, `/\\${e}`, `https://${e}`, `/.//${e}`, `javascript:alert(1)`, ...t.socketOrigins.map((o) => `${o}/.//${e}`)];
  const out: RedirectPayload[] = [];
  for (const rd of inner) {
    for (const path of ['/auth/login?rd=', '/auth/login?switch=1&rd=', '/device?code=', '/auth/signout?rd=', '/.postern/callback?code=']) {
      out.push({ family: 'nested-redirect', value: `${path}${encodeURIComponent(rd)}` });
      out.push({ family: 'nested-redirect', value: `${path}${rd}` });
    }
  }
  return out;
}

/** Fragments, queries and plain paths: these must stay on our host (and keep working). */
function fragmentsAndQueries(t: CorpusTargets): RedirectPayload[] {
  const e = t.evil;
  return [
    `/#//${e}`, `/?//${e}`, `//${e}#/`, `//${e}?/`, `/?rd=//${e}`, `#//${e}`, `?//${e}`, `#`, `?`, `/%23//${e}`, `/%3f//${e}`, `/path#\\${e}`,
    `/?next=http://${e}`, `/x?y=1#//${e}`, `./${e}`, `../${e}`, `${e}`, `${e}/x`, `.${e}`, `/`, '', '/dashboard?tab=1#x', `/${e}`, `/..${e}`,
    '/%0d%0aLocation:%20http://evil.com', '/\r\nLocation: http://evil.com', '/%E2%80%A8//evil.com', `/${'a'.repeat(3000)}`,
  ].map((value) => ({ family: 'fragment-query-path', value }));
}

/** The whole corpus, de-duplicated, in a stable order. */
export function redirectCorpus(t: CorpusTargets): RedirectPayload[] {
  const port = t.edgeHost.split(':')[1] ?? '80';
  const all = [
    ...structural(t, port),
    ...whitespace(t),
    ...userinfo(t),
    ...lookalikes(t, port),
    ...socketTails(t),
    ...nested(t),
    ...fragmentsAndQueries(t),
    ...SCRIPTS.map((value) => ({ family: 'script-scheme', value })),
  ];
  const seen = new Set<string>();
  return all.filter((p) => !seen.has(p.value) && seen.add(p.value));
}
