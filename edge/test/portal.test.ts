import assert from 'node:assert/strict';
import { test } from 'node:test';
import { resolvePolicy, type PolicyInput } from '@postern/shared/policy';
import { portalPage } from '../src/pages/portal-page.js';
import { renderPage } from '../src/pages/layout.js';
import { timeAgo, timeSpan } from '../src/pages/relative-time.js';
import { accessSummary } from '../src/portal/access.js';
import type { PortalView } from '../src/portal/portal-view.js';

const policy = (input: PolicyInput) => resolvePolicy(input, undefined, 'http');

test('the access summary follows the policy: no sign-in is public, sign-in without rules is the owner alone', () => {
  assert.deepEqual(accessSummary(policy({ cloudauth: false })), { kind: 'public' });
  assert.deepEqual(accessSummary(policy({ cloudauth: true })), { kind: 'owner-only' });
  assert.deepEqual(accessSummary(policy({ allowed_email_domains: ['corp.com'], allowed_groups: ['eng'] })), {
    kind: 'rules',
    email_domains: ['corp.com'],
    email_addresses: [],
    github_orgs: [],
    github_teams: [],
    groups: ['eng'],
    rules: [],
    default: 'you and anyone @corp.com, group eng',
  });
});

test('the access summary lists the rules in the words describe() gives them', () => {
  const summary = accessSummary(policy({ rules: [{ paths: ['/hook'], methods: ['post'], action: 'public' }, { paths: ['/admin/*'], action: 'deny' }], cloudauth: true }));
  assert.equal(summary.kind, 'rules');
  assert.deepEqual(summary.kind === 'rules' && summary.rules, ['public on POST /hook', 'deny everyone on /admin/*']);
  assert.equal(summary.kind === 'rules' && summary.default, 'only you');
});

// [elapsed ms, expected]
const AGO: Array<[number, string]> = [
  [-5_000, 'just now'],
  [59_999, 'just now'],
  [60_000, '1 min ago'],
  [59 * 60_000, '59 min ago'],
  [60 * 60_000, '1 h ago'],
  [47 * 3_600_000, '47 h ago'],
  [48 * 3_600_000, '2 days ago'],
];

test('relative times', () => {
  for (const [elapsed, expected] of AGO) assert.equal(timeAgo(1_000_000_000 - elapsed, 1_000_000_000), expected, `${elapsed} ms`);
  assert.equal(timeSpan(30_000), 'less than a minute');
  assert.equal(timeSpan(4 * 60_000 + 59_000), '4 min');
  assert.equal(timeSpan(3 * 86_400_000), '3 days');
});

test('the stylesheet reaches the browser as written, not HTML-escaped (escaped, its selectors and content rules are dead)', () => {
  const page = renderPage({ title: 't', heading: 'h', text: 'x', footer: 'f' });
  const css = /<style>([\s\S]*)<\/style>/.exec(page)?.[1] ?? '';
  assert.match(css, /a\.tile-name::after\{content:"";/);
  assert.match(css, /\.tile-head>div\{/);
  assert.doesNotMatch(css, /&quot;|&gt;|&amp;/);
});

test('the portal page escapes every value it shows', () => {
  const evil = '<img src=x onerror=alert(1)>';
  const view: PortalView = {
    edge: 'edge.test',
    user: { email: null, name: evil },
    publisher: true,
    apps: [{ name: evil, hostname: `"${evil}`, url: `http://a.edge.test/"${evil}`, protocol: 'tcp', online: true, yours: false, owner: evil }],
    sockets: [
      {
        id: 'sck_aaaaaaaaaaaa',
        name: evil,
        hostname: 'h.edge.test',
        url: 'http://h.edge.test',
        protocol: 'http',
        online: false,
        connections: 0,
        ephemeral: false,
        access: { kind: 'rules', email_domains: [], email_addresses: [], github_orgs: [], github_teams: [], groups: [evil], rules: [evil], default: evil },
        tunnels: [{ id: 'tun_1', socket_id: 'sck_aaaaaaaaaaaa', name: evil, ephemeral: false, status: 'connected', connections: 1, live_connections: [{ id: 'conn_1', edge_id: 'edge_1', edge_url: evil, connected_at: '' }], created_at: '', last_connected_at: null }],
      },
    ],
    consents: [{ name: evil, label: evil, hostname: evil, owner: evil, since: '2026-01-01T00:00:00.000Z' }],
  };
  const page = portalPage(view, { signOutHref: '/auth/signout', footer: 'edge.test', now: 0 });
  assert.doesNotMatch(page, /<img/);
  assert.ok(page.includes('&lt;img src=x onerror=alert(1)&gt;'));
});
