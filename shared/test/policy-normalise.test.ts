import assert from 'node:assert/strict';
import { test } from 'node:test';
import { describePolicy } from '../src/policy/describe.js';
import { resolvePolicy, type PolicyInput } from '../src/policy/normalise.js';
import { PolicyError } from '../src/policy/problems.js';
import type { Policy } from '../src/policy/types.js';

const resolve = (input: PolicyInput, base?: Policy, protocol: 'http' | 'tcp' = 'http') => resolvePolicy(input, base, protocol);

/** The first problem as `key: message`. */
function problem(input: PolicyInput, base?: Policy, protocol: 'http' | 'tcp' = 'http'): string {
  try {
    resolve(input, base, protocol);
  } catch (err) {
    assert.ok(err instanceof PolicyError, String(err));
    return err.message;
  }
  assert.fail('accepted');
}

test('the normal form: lists normalised and each value once, empty lists and false options left out, keys in field order', () => {
  const policy = resolve({
    rules: [{ action: 'allow', groups: ['Eng', 'Eng'], domains: ['Corp.COM', 'corp.com'], methods: ['get'], paths: [' /a '], cors_preflight: false, ip_cidrs: [] }],
    default: 'deny',
  });
  assert.deepEqual(policy, { version: 1, rules: [{ paths: ['/a'], methods: ['GET'], action: 'allow', domains: ['corp.com'], groups: ['Eng'] }], default: { action: 'deny' } });
  assert.deepEqual(Object.keys(policy.rules[0]!), ['paths', 'methods', 'action', 'domains', 'groups']);
  assert.deepEqual(resolve(policy as unknown as PolicyInput), policy, 'normalising the normal form changes nothing');
});

// [input, base default, expected default] — today's flags as shorthand for the default rule
const SHORTHAND: Array<[string, PolicyInput, Policy['default'] | undefined, Policy['default']]> = [
  ['nothing: public', {}, undefined, { action: 'public' }],
  ['--cloudauth: the owner only', { cloudauth: true }, undefined, { action: 'allow' }],
  ['a list turns sign-in on', { allowed_email_domains: ['corp.com'] }, undefined, { action: 'allow', domains: ['corp.com'] }],
  ['an empty list does not', { allowed_email_domains: [] }, undefined, { action: 'public' }],
  ['a list replaces that list only', { allowed_groups: ['ops'] }, { action: 'allow', domains: ['a.com'], groups: ['eng'] }, { action: 'allow', domains: ['a.com'], groups: ['ops'] }],
  ['an empty list clears it', { allowed_email_domains: [] }, { action: 'allow', domains: ['a.com'] }, { action: 'allow' }],
  ['--no-cloudauth without lists: public', { cloudauth: false }, { action: 'allow' }, { action: 'public' }],
  ['a list on a deny default turns it to allow', { allowed_email_addresses: ['x@y.com'] }, { action: 'deny' }, { action: 'allow', emails: ['x@y.com'] }],
  ['default: allow with the lists beside it', { default: 'allow', allowed_email_domains: ['corp.com'] }, undefined, { action: 'allow', domains: ['corp.com'] }],
  ['the default as an object', { default: { action: 'allow', github_orgs: ['Acme'] } }, undefined, { action: 'allow', github_orgs: ['acme'] }],
  ['cloudauth keeps a deny default', { cloudauth: true }, { action: 'deny' }, { action: 'deny' }],
];
for (const [name, input, base, expected] of SHORTHAND) {
  test(`shorthand: ${name}`, () => {
    const basePolicy: Policy | undefined = base && { version: 1, rules: [], default: base };
    assert.deepEqual(resolve(input, basePolicy).default, expected);
  });
}

test('rules replace the old list; a change that leaves them out keeps them', () => {
  const base = resolve({ rules: [{ paths: ['/x'], action: 'deny' }], cloudauth: true });
  assert.deepEqual(resolve({ allowed_email_domains: ['corp.com'] }, base).rules, base.rules);
  assert.deepEqual(resolve({ rules: [] }, base).rules, []);
});

// [input, protocol, expected problem]
const PROBLEMS: Array<[PolicyInput, 'http' | 'tcp', RegExp]> = [
  [{ allowed_email_domains: ['corp.com'], cloudauth: false }, 'http', /^cloudauth: access rules need sign-in/],
  [{ cloudauth: false }, 'tcp', /TCP sockets always check who connects/],
  [{ default: 'public' }, 'tcp', /^default: TCP sockets always/],
  [{ allowed_email_domains: ['not a domain'] }, 'http', /^allowed_email_domains\[0\]: "not a domain" is not an email domain/],
  [{ allowed_email_addresses: ['ok@x.com', 'bad'] }, 'http', /^allowed_email_addresses\[1\]: "bad" is not an email address/],
  [{ allowed_github_teams: ['acme'] }, 'http', /not a GitHub team/],
  [{ rules: [{ action: 'maybe' }] }, 'http', /^rules\[0\]\.action: must be one of public, allow, deny/],
  [{ rules: [{ paths: ['/x'] }] }, 'http', /^rules\[0\]\.action: is required/],
  [{ rules: [{ action: 'deny', pathz: ['/x'] }] }, 'http', /^rules\[0\]\.pathz: unknown key \(known: paths, methods, action/],
  [{ rules: [{ action: 'deny', paths: '/x' }] }, 'http', /^rules\[0\]\.paths: must be a list/],
  [{ rules: [{ action: 'deny', paths: ['x'] }] }, 'http', /^rules\[0\]\.paths\[0\]: must start with "\/"/],
  [{ rules: [{ action: 'allow', paths: ['/x'] }] }, 'http', /^rules\[0\]: an allow rule says whom it lets in/],
  [{ rules: [{ action: 'public', emails: ['a@b.com'] }] }, 'http', /^rules\[0\]\.emails: a public rule .* names no one/],
  [{ rules: [{ action: 'allow', anyone_signed_in: true, emails: ['a@b.com'] }] }, 'http', /^rules\[0\]\.anyone_signed_in: already lets every signed-in person in/],
  [{ rules: [{ action: 'deny', ip_cidrs: ['10.0.0.0/33'] }] }, 'http', /^rules\[0\]\.ip_cidrs\[0\]: has a prefix length/],
  [{ rules: [{ action: 'deny', time: { hours: '9-5' } }] }, 'http', /^rules\[0\]\.time: "9-5" is not a span of hours/],
  [{ rules: [{ action: 'deny', time: { hours: '09:00-17:00', zone: 'Nowhere/Land' } }] }, 'http', /not an IANA time zone/],
  [{ rules: [{ action: 'deny', time: { hours: '09:00-17:00', dayz: ['mon'] } }] }, 'http', /^rules\[0\]\.time\.dayz: unknown key/],
  [{ rules: [{ action: 'deny', expires: '2027-01-31' }] }, 'http', /^rules\[0\]\.expires: needs a time and an offset/],
  [{ rules: [{ action: 'deny', not_before: '2027-02-01T00:00:00Z', expires: '2027-01-01T00:00:00Z' }] }, 'http', /^rules\[0\]\.expires: is not after not_before/],
  [{ rules: [{ action: 'deny', paths: ['/x'] }] }, 'tcp', /^rules\[0\]\.paths: TCP sockets have no paths or methods/],
  [{ rules: [{ action: 'public' }] }, 'tcp', /^rules\[0\]\.action: TCP sockets always check/],
  [{ rules: [{ action: 'deny', cors_preflight: true }] }, 'tcp', /^rules\[0\]\.cors_preflight: TCP sockets have no CORS/],
  [{ default: 'deny', allowed_email_domains: ['corp.com'] }, 'http', /^allowed_email_domains: names who the default lets in, but the default is deny/],
  [{ default: { action: 'allow', domains: ['a.com'] }, allowed_email_domains: ['b.com'] }, 'http', /^allowed_email_domains: given twice/],
  [{ default: { action: 'deny', domains: ['a.com'] } }, 'http', /^default\.domains: a deny default names no one/],
  [{ default: 'sometimes' as 'deny' }, 'http', /^default: must be one of public, allow, deny/],
  [{ cloudauth: true, default: 'public' }, 'http', /^cloudauth: conflicts with default: public/],
];
for (const [input, protocol, expected] of PROBLEMS) {
  test(`refused with the key at fault: ${JSON.stringify(input)} (${protocol})`, () => {
    assert.match(problem(input, undefined, protocol), expected);
  });
}

test('every bad rule is reported, not only the first', () => {
  try {
    resolve({ rules: [{ action: 'deny', paths: ['x'] }, { action: 'deny' }, { action: 'allow' }] });
    assert.fail('accepted');
  } catch (err) {
    assert.ok(err instanceof PolicyError);
    assert.deepEqual(err.problems.map((p) => p.path.join('.')), ['rules.0.paths.0', 'rules.2']);
  }
});

test('TCP sockets default to sign-in: no default given means the owner and the lists', () => {
  assert.deepEqual(resolve({}, undefined, 'tcp').default, { action: 'allow' });
  assert.deepEqual(resolve({ allowed_email_addresses: ['a@b.com'] }, undefined, 'tcp').default, { action: 'allow', emails: ['a@b.com'] });
});

test('describe(policy): one line per rule, then the default', () => {
  const policy = resolve({
    rules: [
      { paths: ['/webhook'], methods: ['POST'], action: 'public' },
      { paths: ['/admin/*'], action: 'deny', not_ip_cidrs: ['10.0.0.0/8'] },
      { action: 'allow', emails: ['carol@contractor.io'], expires: '2027-01-31T18:00:00+01:00' },
      { action: 'deny', time: { days: ['sat', 'sun'], hours: '00:00-24:00' } },
      { cors_preflight: true, action: 'public' },
      { methods: ['DELETE'], action: 'allow', anyone_signed_in: true },
    ],
    allowed_email_domains: ['corp.com'],
    allowed_github_orgs: ['acme'],
  });
  assert.deepEqual(describePolicy(policy), [
    'rules[0]: public on POST /webhook',
    'rules[1]: deny everyone on /admin/* not from 10.0.0.0/8',
    'rules[2]: allow carol@contractor.io until 2027-01-31T17:00:00Z',
    'rules[3]: deny everyone Sat,Sun 00:00-24:00 UTC',
    'rules[4]: public for CORS preflights',
    'rules[5]: allow anyone signed in on DELETE on every path',
    'default: the owner and anyone @corp.com, GitHub org acme',
  ]);
  assert.deepEqual(describePolicy(resolve({})), ['default: anyone (public, no sign-in)']);
  assert.deepEqual(describePolicy(resolve({ cloudauth: true }), 'you'), ['default: only you']);
  assert.deepEqual(describePolicy(resolve({ default: 'deny' })), ['default: no one (deny)']);
});

test('a list given as shorthand lands in field order, so equal policies are equal JSON', () => {
  const base = resolve({ allowed_email_domains: ['corp.com'] });
  const merged = resolve({ allowed_email_addresses: ['x@y.com'] }, base);
  assert.equal(JSON.stringify(merged.default), JSON.stringify(resolve({ default: { action: 'allow', domains: ['corp.com'], emails: ['x@y.com'] } }).default));
  assert.deepEqual(Object.keys(merged.default), ['action', 'emails', 'domains']);
});
