import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parsePosternFile } from '@postern/shared/policy';
import type { SocketInfo } from '../src/api-client.js';
import { planApply } from '../src/apply-plan.js';
import { socketEntry } from '../src/commands/export.js';
import { normalizeAliases, rulesBody } from '../src/rule-options.js';

const FILE = `sockets:
  - name: wiki
    cloudauth: true
    allowed_email_domains: [corp.com]
    rules:
      - {paths: [/admin/*], action: deny}
  - name: ssh
    to: tcp://127.0.0.1:22
  - name: new
    max_body_bytes: 1024
`;

/** A socket as the API shows it, made from a spec so both sides are in normal form. */
function existing(name: string, text: string, over: Partial<SocketInfo> = {}): SocketInfo {
  const [spec] = parsePosternFile(text, 'x.yaml');
  return {
    id: `sck_${name.padEnd(12, 'x')}`,
    name,
    hostname: `${name}-acct.edge.test`,
    url: `http://${name}-acct.edge.test`,
    protocol: spec!.protocol,
    cloudauth: spec!.policy.default.action !== 'public',
    allowed_email_addresses: [],
    allowed_email_domains: [],
    allowed_github_orgs: [],
    allowed_github_teams: [],
    allowed_groups: [],
    rules: spec!.policy.rules,
    default: spec!.policy.default,
    policy_revision: 1,
    access: [],
    identity_headers: { email: 'X-Auth-Email', user: 'X-Auth-User' },
    max_body_bytes: null,
    allow_cross_origin_requests: false,
    ephemeral: false,
    created_at: '',
    online: false,
    connections: 0,
    ...over,
  };
}

test('apply plans creates, updates and (with --prune) deletes; what matches is left alone', () => {
  const specs = parsePosternFile(FILE, 'postern.yaml');
  const sockets = [
    existing('wiki', 'sockets:\n  - name: wiki\n    cloudauth: true\n    allowed_email_domains: [corp.com]\n'),
    existing('ssh', 'sockets:\n  - name: ssh\n    protocol: tcp\n'),
    existing('old', 'sockets:\n  - name: old\n'),
    existing('quick', 'sockets:\n  - name: quick\n', { ephemeral: true }),
  ];
  const plan = planApply(specs, sockets, false);
  assert.deepEqual(plan.steps.map((s) => [s.op, s.name]), [['update', 'wiki'], ['create', 'new']]);
  assert.deepEqual(plan.steps[0]!.changes, ['+ rules[0]: deny everyone on /admin/*']);
  assert.deepEqual(plan.unchanged, ['ssh']);
  assert.deepEqual(plan.notInFile, ['old'], 'quick shares are not listed');
  const pruned = planApply(specs, sockets, true);
  assert.deepEqual(pruned.steps.map((s) => [s.op, s.name]), [['update', 'wiki'], ['create', 'new'], ['delete', 'old']]);
});

test('applying what export wrote plans nothing (idempotent)', () => {
  const sockets = [
    existing('wiki', FILE),
    existing('limits', 'sockets:\n  - name: limits\n', { max_body_bytes: 2048, identity_headers: { email: 'X-Email', user: 'X-Auth-User' }, allow_cross_origin_requests: true }),
  ];
  const text = `sockets:\n${sockets.map((s) => `  - ${JSON.stringify(socketEntry(s))}`).join('\n')}\n`;
  const plan = planApply(parsePosternFile(text, 'exported.yaml'), sockets, true);
  assert.deepEqual(plan.steps, []);
  assert.deepEqual(plan.unchanged, ['wiki', 'limits']);
});

test('a protocol cannot change through apply; header names and body limits can', () => {
  const specs = parsePosternFile('sockets:\n  - name: db\n    protocol: tcp\n  - name: web\n    identity_headers: {email: X-Mail}\n    max_body_bytes: 10\n', 'p.yaml');
  const plan = planApply(specs, [existing('db', 'sockets:\n  - name: db\n'), existing('web', 'sockets:\n  - name: web\n')], false);
  assert.match(plan.conflicts[0] ?? '', /^db: the socket is http and the file says tcp/);
  assert.deepEqual(plan.steps.map((s) => s.op === 'update' && s.body), [{ identity_headers: { email: 'X-Mail' }, max_body_bytes: 10 }]);
});

test("today's flags and mysocketctl's spellings still build the same body", () => {
  assert.deepEqual(rulesBody({ cloudauth: true, allowedEmailDomains: ['corp.com'], allowedGroups: ['eng'] }), {
    cloudauth: true,
    allowed_email_domains: ['corp.com'],
    allowed_groups: ['eng'],
  });
  assert.deepEqual(normalizeAliases(['--allowed_email_domains=a.com', '--allowed_github_teams', 'acme/ops', '--socket_id', 'x']), [
    '--allowed-email-domains=a.com',
    '--allowed-github-teams',
    'acme/ops',
    '--socket',
    'x',
  ]);
  assert.throws(() => rulesBody({ policyFile: '/nonexistent.yaml', allowedEmailDomains: ['a.com'] }), /--policy-file gives the whole policy/);
});
