import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, test } from 'node:test';
import { entryOf, formatPosternFile, parsePosternFile, PolicyFileError, readPolicyFile, readPosternFile } from '../src/policy/file.js';
import { importPomerium } from '../src/policy/pomerium.js';
import { fileSchema } from '../src/policy/schema.js';

const dir = mkdtempSync(join(tmpdir(), 'postern-policy-file-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const GOOD = `# a comment
sockets:
  - name: grafana
    to: http://127.0.0.1:3000
    cloudauth: true
    allowed_email_domains: [corp.com]
    rules:
      - paths: [/api/health]
        action: public
      - paths: [/admin/*]
        action: allow
        emails: [alice@corp.com]
      - paths: [/admin/*]
        action: deny
  - name: ssh
    to: tcp://127.0.0.1:22
    allowed_email_addresses: [ops@corp.com]
`;

test('a file gives normalised socket specs; protocol follows `to`', () => {
  const [grafana, ssh] = parsePosternFile(GOOD, 'postern.yaml');
  assert.equal(grafana?.protocol, 'http');
  assert.equal(grafana?.to, 'http://127.0.0.1:3000');
  assert.deepEqual(grafana?.policy.default, { action: 'allow', domains: ['corp.com'] });
  assert.equal(grafana?.policy.rules.length, 3);
  assert.equal(ssh?.protocol, 'tcp');
  assert.deepEqual(ssh?.policy.default, { action: 'allow', emails: ['ops@corp.com'] });
});

/** The one error of a bad file, as the CLI prints it. */
function errorOf(text: string): string {
  try {
    parsePosternFile(text, 'postern.yaml');
  } catch (err) {
    assert.ok(err instanceof PolicyFileError, String(err));
    return err.message;
  }
  assert.fail('accepted');
}

// [file text, expected error: file, line, column, key and what is wrong]
const BAD_FILES: Array<[string, RegExp]> = [
  ['sockets:\n  - name: a\n    rules:\n      - paths: [/x]\n        action: maybe\n', /^postern\.yaml:5:9: sockets\[0\]\.rules\[0\]\.action: must be one of public, allow, deny$/],
  ['sockets:\n  - name: a\n    rules:\n      - pathz: [/x]\n        action: deny\n', /^postern\.yaml:4:9: sockets\[0\]\.rules\[0\]\.pathz: unknown key \(known: paths, methods, action/],
  ['sockets:\n  - name: a\n    rules:\n      - paths: [x]\n        action: deny\n', /^postern\.yaml:4:17: sockets\[0\]\.rules\[0\]\.paths\[0\]: must start with "\/"$/],
  ['sockets:\n  - name: a\n    allowed_email_domains: [bad domain]\n', /^postern\.yaml:3:29: sockets\[0\]\.allowed_email_domains\[0\]: "bad domain" is not an email domain/],
  ['sockets:\n  - name: a\n    rules:\n      - action: allow\n', /^postern\.yaml:4:9: sockets\[0\]\.rules\[0\]: an allow rule says whom it lets in/],
  ['sockets:\n  - to: http://127.0.0.1:1\n', /^postern\.yaml:2:5: sockets\[0\]\.name: is required$/],
  ['sockets:\n  - name: a\n    to: https://example.com\n', /^postern\.yaml:3:5: sockets\[0\]\.to: must be the connector's local target/],
  ['sockets:\n  - name: a\n    to: http://127.0.0.1:3000/app\n', /^postern\.yaml:3:5: sockets\[0\]\.to: must be http:\/\/HOST:PORT/],
  ['sockets:\n  - name: a\n    to: tcp://127.0.0.1:22\n    protocol: http\n', /^postern\.yaml:3:5: sockets\[0\]\.to: is a tcp:\/\/ target, but the socket's protocol is http/],
  ['sockets:\n  - name: a\n  - name: A\n', /^postern\.yaml:3:5: sockets\[1\]\.name: "A" is already the name of sockets\[0\]/],
  ['sockets:\n  - name: a\n    rules:\n      - action: deny\n        expires: 2027-01-31\n', /^postern\.yaml:5:9: sockets\[0\]\.rules\[0\]\.expires: needs a time and an offset/],
  ['socket:\n  - name: a\n', /^postern\.yaml:1:1: socket: unknown key \(known: version, sockets\)/],
  ['sockets:\n  - name: a\n    name: b\n', /^postern\.yaml:3:5: .*(unique|duplicate|Map keys)/i],
  ['sockets:\n  - name: a\n    allowed_email_domains: [*.corp.com]\n', /^postern\.yaml:3:\d+: .*quote values that start with \*/],
  ['sockets: [\n', /^postern\.yaml:\d+:\d+: /],
  ['sockets:\n  - name: a\n    rewrite_host: "grafana internal"\n', /^postern\.yaml:3:5: sockets\[0\]\.rewrite_host: must be true, false or a host\[:port\]/],
];
for (const [text, expected] of BAD_FILES) {
  test(`a bad file names file, line, column and key: ${JSON.stringify(text.split('\n').at(-2))}`, () => {
    assert.match(errorOf(text), expected);
  });
}

test('what `postern connect --config` reads: every key of an entry lands in the spec under a fixed name', () => {
  const text = `sockets:
  - name: wiki
    to: http://127.0.0.1:8080
    protocol: http
    rewrite_host: wiki.internal:8080
    rules: [{paths: [/health], action: public}]
    default: {action: allow, domains: [corp.com]}
    identity_headers: {email: X-Forwarded-Email}
    max_body_bytes: 1048576
    allow_cross_origin_requests: true
  - name: db
    to: tcp://127.0.0.1:5432
    rewrite_host: true
`;
  assert.deepEqual(parsePosternFile(text, 'postern.yaml'), [
    {
      name: 'wiki',
      protocol: 'http',
      to: 'http://127.0.0.1:8080',
      rewriteHost: 'wiki.internal:8080',
      policy: { version: 1, rules: [{ paths: ['/health'], action: 'public' }], default: { action: 'allow', domains: ['corp.com'] } },
      identityHeaders: { email: 'X-Forwarded-Email' },
      maxBodyBytes: 1048576,
      allowCrossOriginRequests: true,
    },
    { name: 'db', protocol: 'tcp', to: 'tcp://127.0.0.1:5432', rewriteHost: true, policy: { version: 1, rules: [], default: { action: 'allow' } } },
  ]);
});

test('the file module is client code: it imports no edge code (the CLI and connectors load it alone)', () => {
  const src = fileURLToPath(new URL('../../src/policy/', import.meta.url));
  for (const name of readdirSync(src).filter((f) => f.endsWith('.ts'))) {
    const imports = [...readFileSync(join(src, name), 'utf8').matchAll(/^import\s[^;]*?from '([^']+)'/gm)].map((m) => m[1]!);
    for (const from of imports) assert.match(from, /^(\.\/|\.\.\/frame\.js$|node:|yaml$|ajv$)/, `${name} imports ${from}`);
  }
});

test('every problem of a file is listed, one line each', () => {
  try {
    parsePosternFile('sockets:\n  - name: a\n    cloudauth: maybe\n  - name: b\n    rules:\n      - action: nope\n', 'p.yaml');
    assert.fail('accepted');
  } catch (err) {
    assert.ok(err instanceof PolicyFileError);
    assert.deepEqual(err.lines(), ['p.yaml:3:5: sockets[0].cloudauth: must be true or false', 'p.yaml:6:9: sockets[1].rules[0].action: must be one of public, allow, deny']);
    assert.match(err.message, /\(and 1 more\)$/);
  }
});

test('a file that cannot be read says so, with its name', () => {
  assert.throws(() => readPosternFile(join(dir, 'missing.yaml')), /missing\.yaml:1:1: \(top level\): cannot read the file \(ENOENT\)/);
});

test('export then parse gives the same specs (the format round-trips)', () => {
  const specs = parsePosternFile(GOOD, 'postern.yaml');
  const text = formatPosternFile(specs.map(entryOf), 'a test');
  assert.match(text, /^# postern\.yaml: the format is docs\/POLICY\.md/);
  assert.match(text, /paths: \[\/admin\/\*\]/, 'short lists on one line');
  assert.deepEqual(parsePosternFile(text, 'exported.yaml'), specs);
  // JSON is YAML too.
  assert.deepEqual(parsePosternFile(JSON.stringify({ sockets: specs.map(entryOf) }), 'p.json'), specs);
});

test('the default is written in shorthand where it fits, as `default:` where not', () => {
  const text = 'sockets:\n  - name: a\n    default: {action: allow, anyone_signed_in: true}\n  - name: b\n    default: deny\n  - name: c\n  - name: d\n    default: public\n    rules: [{paths: [/x], action: deny}]\n';
  const entries = parsePosternFile(text, 'p.yaml').map(entryOf);
  assert.deepEqual(entries.map((e) => [e.cloudauth, e.default]), [
    [undefined, { action: 'allow', anyone_signed_in: true }],
    [undefined, 'deny'],
    [false, undefined],
    [undefined, 'public'],
  ]);
});

test('--policy-file: a file with one socket, with the socket named, or a policy alone', () => {
  const one = join(dir, 'one.yaml');
  writeFileSync(one, 'sockets:\n  - name: wiki\n    cloudauth: true\n');
  assert.deepEqual(readPolicyFile(one, 'http').default, { action: 'allow' });
  const two = join(dir, 'two.yaml');
  writeFileSync(two, GOOD);
  assert.deepEqual(readPolicyFile(two, 'tcp', 'SSH').default, { action: 'allow', emails: ['ops@corp.com'] });
  assert.throws(() => readPolicyFile(two, 'http'), /two\.yaml:2:1: sockets: lists 2 sockets; a policy file describes one/);
  assert.throws(() => readPolicyFile(two, 'http', 'ssh'), /sockets\[1\]\.protocol: is tcp, but the socket is http/);
  const bare = join(dir, 'bare.yaml');
  writeFileSync(bare, 'rules:\n  - paths: [/hook]\n    action: public\ndefault: deny\n');
  assert.deepEqual(readPolicyFile(bare, 'http'), { version: 1, rules: [{ paths: ['/hook'], action: 'public' }], default: { action: 'deny' } });
  writeFileSync(bare, 'rulez: []\n');
  assert.throws(() => readPolicyFile(bare, 'http'), /bare\.yaml:1:1: rulez: unknown key/);
});

test('docs/postern.schema.json is the schema the code validates with (npm run docs:schema rewrites it)', () => {
  const published = JSON.parse(readFileSync(new URL('../../../docs/postern.schema.json', import.meta.url), 'utf8')) as unknown;
  assert.deepEqual(published, JSON.parse(JSON.stringify(fileSchema)));
});

// ------------------------------------------------------------------------------------ Pomerium

/** The policy files of the seeds (/work/shared/seeds): a home lab with Azure AD users (and the ECS article's https route), Helm values with dex groups. */
const SEED_HOME_LAB = readFileSync(new URL('../../test/fixtures/pomerium-home-lab.yaml', import.meta.url), 'utf8');
const SEED_HELM = `authenticate:
  idp:
    provider: oidc
config:
  rootDomain: my-pipeline.com
  policyFile:
    - from: prometheus.my-pipeline.com
      to: http://monitor-prometheus-operato-prometheus.monitor:9090
      allowed_groups:
        - banzaicloud:dev
    - from: alertmanager.my-pipeline.com
      to: http://monitor-prometheus-operato-alertmanager.monitor:9093
      allowed_groups:
        - banzaicloud:dev
`;
test('Pomerium: the home-lab policy of the seeds imports as sockets for their users; what cannot map is reported with its line', () => {
  const { entries, report } = importPomerium(SEED_HOME_LAB, 'policy.yaml');
  assert.deepEqual(entries, [
    { name: 'app1', protocol: 'http', to: 'http://app1containername:8080', rewrite_host: true, cloudauth: true, allowed_email_addresses: ['user1@azuread.domain'] },
    { name: 'app2', protocol: 'http', to: 'http://app2containername', rewrite_host: true, cloudauth: true, allowed_email_addresses: ['user2@azuread.domain'] },
    { name: 'httpbin', protocol: 'http', rewrite_host: true, cloudauth: true, allowed_email_domains: ['example.com'] },
  ]);
  assert.deepEqual(report, ['policy.yaml:13: routes[2] (https://httpbin.dev.example.com): to: not mapped: "https://httpbin.org" is https; the connector speaks plain HTTP to its target (set to: http://… by hand)']);
});

test('Pomerium: Helm values (config.policyFile) with groups import; lines in the report point into the file', () => {
  const { entries, report } = importPomerium(SEED_HELM, 'values.yaml');
  assert.deepEqual(entries.map((e) => [e.name, e.to, e.allowed_groups]), [
    ['prometheus', 'http://monitor-prometheus-operato-prometheus.monitor:9090', ['banzaicloud:dev']],
    ['alertmanager', 'http://monitor-prometheus-operato-alertmanager.monitor:9093', ['banzaicloud:dev']],
  ]);
  assert.deepEqual(report, []);
});

test('Pomerium: PPL, public and preflight routes, TCP, and the keys Postern has no use for', () => {
  const config = `routes:
  - from: https://verify.corp.example
    to: [http://verify:8000, http://verify2:8000]
    prefix: /app
    cors_allow_preflight: true
    preserve_host_header: true
    policy:
      - allow:
          or:
            - domain: {is: corp.example}
            - email: {is: guest@else.example}
      - deny:
          or:
            - groups: {has: contractors}
  - from: https://open.corp.example
    to: http://open:80
    allow_public_unauthenticated_access: true
  - from: tcp+https://redis.corp.example:6379
    to: tcp://redis:6379
    allow_any_authenticated_user: true
  - from: https://verify.corp.example/other
    to: http://other:1
  - from: https://claims.corp.example
    to: http://claims:1
    allowed_users: [not-an-email]
    allowed_idp_claims: {department: [eng]}
    policy:
      allow:
        and:
          - email: {is: a@b.example}
          - http_path: {starts_with: /x}
`;
  const { entries, report } = importPomerium(config, 'config.yaml');
  assert.deepEqual(entries[0], {
    name: 'verify',
    protocol: 'http',
    to: 'http://verify:8000',
    cloudauth: true,
    rules: [{ cors_preflight: true, action: 'public' }, { action: 'allow', domains: ['corp.example'], emails: ['guest@else.example'] }, { action: 'deny', groups: ['contractors'] }],
  });
  assert.deepEqual(entries[1], { name: 'open', protocol: 'http', to: 'http://open:80', rewrite_host: true, cloudauth: false });
  assert.deepEqual(entries[2], { name: 'redis', protocol: 'tcp', to: 'tcp://redis:6379', default: { action: 'allow', anyone_signed_in: true } });
  assert.equal(entries.length, 4, 'the second route for verify.corp.example is skipped');
  const text = report.join('\n');
  assert.match(text, /config\.yaml:3: routes\[0\] \(https:\/\/verify\.corp\.example\): to: only the first target is used/);
  assert.match(text, /config\.yaml:4: routes\[0\] .*prefix: not mapped: Postern serves a whole host from one target/);
  assert.match(text, /routes\[3\] .*skipped: routes\[0\] already became the socket "verify"/);
  assert.match(text, /routes\[4\] .*allowed_users: not mapped: not-an-email/);
  assert.match(text, /routes\[4\] .*allowed_idp_claims: not mapped/);
  assert.match(text, /routes\[4\] .*policy\[0\]\.allow: not mapped: only "or" of email, domain and groups criteria is mapped \(found and\)/);
});

test('Pomerium: a file without routes is refused with its name', () => {
  assert.throws(() => importPomerium('hello: world\n', 'x.yaml'), /x\.yaml:1:1: \(top level\): no Pomerium routes here/);
});
