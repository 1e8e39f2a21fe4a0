import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CompiledPolicy } from '../src/policy/compile.js';
import { normalizeEmail } from '../src/policy/email.js';
import { resolvePolicy, type PolicyInput } from '../src/policy/normalise.js';
import type { Identity, RequestFacts } from '../src/policy/types.js';

const OWNER = 'owner@corp.com';
const NOW = Date.parse('2026-12-07T10:00:00Z'); // a Monday

const compiled = (input: PolicyInput, protocol: 'http' | 'tcp' = 'http') => new CompiledPolicy(resolvePolicy(input, undefined, protocol), OWNER);
/** As the edge builds it: the IdP's email normalised once (null when it is not an acceptable address). */
const who = (email: string | null, over: Partial<Identity> = {}): Identity => ({
  email: email === null ? null : normalizeEmail(email),
  groups: [],
  githubOrgs: [],
  githubTeams: [],
  ...over,
});
const req = (over: Partial<RequestFacts> = {}): RequestFacts => ({ path: '/', method: 'GET', ip: '192.0.2.10', at: NOW, corsPreflight: false, ...over });
const kind = (input: PolicyInput, identity: Identity | null, facts: Partial<RequestFacts> = {}) => compiled(input).decide(identity, req(facts)).kind;

// ------------------------------------------------------------------- the default (today's rules)

test('a public socket lets everyone in, a cloudauth socket needs a sign-in', () => {
  assert.deepEqual(compiled({ cloudauth: false }).decide(null, req()), { kind: 'allow', rule: null, reason: 'the socket is public', anonymous: true });
  assert.deepEqual(compiled({ cloudauth: true }).decide(null, req()), { kind: 'sign-in', rule: null, reason: 'sign-in required', resumeAt: 0 });
});

test('with sign-in on and no rule, only the owner gets in', () => {
  assert.equal(kind({ cloudauth: true }, who(OWNER)), 'allow');
  assert.equal(kind({ cloudauth: true }, who('OWNER@corp.com')), 'allow');
  const other = compiled({ cloudauth: true }).decide(who('colleague@corp.com'), req());
  assert.equal(other.kind, 'deny');
  assert.match(other.reason, /only the owner/);
});

/** A rule the normaliser refuses never exists, so it admits no one. */
function admits(input: PolicyInput, identity: Identity): boolean {
  let policy;
  try {
    policy = compiled(input);
  } catch {
    return false;
  }
  return policy.decide(identity, req()).kind === 'allow';
}

// [rule domains, email, expected]
const DOMAIN_CASES: Array<[string[], string | null, boolean]> = [
  [['corp.com'], 'a@corp.com', true],
  [['corp.com'], 'a@CORP.COM', true],
  [['Corp.com'], 'a@corp.com', true],
  [['corp.com'], 'a@sub.corp.com', false],
  [['*.corp.com'], 'a@sub.corp.com', true],
  [['*.corp.com'], 'a@deep.sub.corp.com', true],
  [['*.corp.com'], 'a@corp.com', false],
  [['corp.com'], 'a@evilcorp.com', false],
  [['corp.com'], 'a@corp.com.evil.io', false],
  [['corp.com'], 'a@evil.com@corp.com', false],
  [['corp.com'], 'a@corp.com.', false],
  [['corp.com'], 'a@corp.co\u043c', false],
  [['corp.com'], 'a@xn--corp-9ma.com', false],
  [['corp.com'], '@corp.com', false],
  [['corp.com'], 'a @corp.com', false],
  [['corp.com'], 'a@corp.com\n', false],
  [['corp.com'], ' a@corp.com', false],
  [['corp.com'], null, false],
  // Look-alikes and spellings found by test/security-email.test.ts and the acceptance list of SECURITY.md.
  [['corp.com'], 'a@\uff43\uff4f\uff52\uff50.com', false],
  [['corp.com'], '\uff41@corp.com', false],
  [['corp.com'], 'a@corp\u3002com', false],
  [['corp.com'], 'a@corp\uff0ecom', false],
  [['corp.com'], 'a@c\u043erp.com', false],
  [['corp.com'], 'a@corp.com\u200b', false],
  [['corp.com'], 'a@corp.com\u0000.evil.com', false],
  [['corp.com'], '"a@corp.com"@evil.com', false],
  [['corp.com'], 'a@[127.0.0.1]', false],
  [['korp.com'], 'a@\u212Aorp.com', false],
  [['*.corp.com'], 'a@xcorp.com', false],
  [['*.corp.com'], 'a@x.corp.com.evil.com', false],
  [['*.corp.com'], 'a@corp.com.evil.com', false],
  [['*.corp.com'], 'a@.corp.com', false],
  [['corp.com.'], 'a@corp.com', false],
  [['\u212Aorp.com'], 'a@korp.com', false],
  [['*'], 'a@corp.com', false],
  [['.corp.com'], 'a@x.corp.com', false],
];
for (const [domains, email, expected] of DOMAIN_CASES) {
  test(`domain rule ${JSON.stringify(domains)} ${expected ? 'admits' : 'refuses'} ${JSON.stringify(email)}`, () => {
    assert.equal(admits({ allowed_email_domains: domains }, who(email)), expected);
    assert.equal(admits({ rules: [{ action: 'allow', domains }], default: 'deny' }, who(email)), expected, 'the same in a rule');
  });
}

const ADDRESS_CASES: Array<[string, string, boolean]> = [
  ['john@doe.com', 'john@doe.com', true],
  ['John@Doe.com', 'john@DOE.com', true],
  ['john@doe.com', 'john+tag@doe.com', false],
  ['john+tag@doe.com', 'john+tag@doe.com', true],
  ['john@doe.com', 'jo.hn@doe.com', false],
  ['john@doe.com', 'john@doe.com.', false],
  ['john@doe.com', 'j\u043ehn@doe.com', false],
  ['kate@doe.com', '\u212Aate@doe.com', false],
  ['kate@doe.com', '\uff4bate@doe.com', false],
  ['john+tag@doe.com', 'john@doe.com', false],
  ['john+tag@doe.com', 'JOHN+TAG@doe.com', true],
];
for (const [rule, email, expected] of ADDRESS_CASES) {
  test(`address rule ${rule} ${expected ? 'admits' : 'refuses'} ${JSON.stringify(email)}`, () => {
    assert.equal(admits({ allowed_email_addresses: [rule] }, who(email)), expected);
    assert.equal(admits({ rules: [{ action: 'allow', emails: [rule] }], default: 'deny' }, who(email)), expected, 'the same in a rule');
  });
}

test('GitHub orgs, teams and IdP groups match exactly', () => {
  assert.equal(admits({ allowed_github_orgs: ['Acme'] }, who(null, { githubOrgs: ['acme'] })), true);
  assert.equal(admits({ allowed_github_orgs: ['acme'] }, who(null, { githubOrgs: ['acme-evil'] })), false);
  assert.equal(admits({ allowed_github_teams: ['acme/ops'] }, who(null, { githubTeams: ['acme/ops'] })), true);
  assert.equal(admits({ allowed_github_teams: ['acme/ops'] }, who(null, { githubTeams: ['acme/dev'] })), false);
  assert.equal(admits({ allowed_groups: ['admins'] }, who('x@y.com', { groups: ['admins'] })), true);
  assert.equal(admits({ allowed_groups: ['admins'] }, who('x@y.com', { groups: ['Admins'] })), false);
});

test('a denial says why, naming the user', () => {
  const d = compiled({ allowed_email_domains: ['corp.com'] }).decide(who('eve@evil.com'), req());
  assert.deepEqual(d, { kind: 'deny', rule: null, reason: "eve@evil.com is not allowed by this socket's rules" });
  assert.match(compiled({ allowed_email_domains: ['corp.com'] }).decide(who(null), req()).reason, /no verified email/);
});

test('email normalisation refuses what rules must never see', () => {
  assert.equal(normalizeEmail('Alice@Example.COM'), 'alice@example.com');
  assert.equal(normalizeEmail(' alice@example.com'), null);
  assert.equal(normalizeEmail('\u212Aate@corp.com'), null, 'KELVIN SIGN does not lower-case its way to kate@corp.com');
  for (const bad of ['a@b', 'a@@b.com', 'a@b.com@c.com', 'a..b@c.com', '.a@b.com', 'a@b..com', 'a@-b.com', 'á@b.com', 'a@b.com.', '']) {
    assert.equal(normalizeEmail(bad), null, bad);
  }
});

// ------------------------------------------------------------------------------- ordered rules

const WIKI: PolicyInput = {
  rules: [
    { paths: ['/webhook'], methods: ['POST'], action: 'public' },
    { paths: ['/admin/*'], action: 'allow', emails: ['alice@corp.com', 'bob@corp.com'] },
    { paths: ['/admin/*'], action: 'deny' },
  ],
  allowed_email_domains: ['corp.com'],
};

// [identity, facts, kind, deciding rule]
const WIKI_CASES: Array<[string | null, Partial<RequestFacts>, string, number | null]> = [
  [null, { path: '/webhook', method: 'POST' }, 'allow', 0],
  ['eve@evil.com', { path: '/webhook', method: 'POST' }, 'allow', 0],
  [null, { path: '/webhook', method: 'GET' }, 'sign-in', null], // not the public rule: the default needs to know who
  [null, { path: '/webhook/x', method: 'POST' }, 'sign-in', null],
  [null, { path: '/admin/x' }, 'sign-in', 1],
  [null, { path: '/' }, 'sign-in', null],
  ['carol@corp.com', { path: '/' }, 'allow', null],
  ['carol@corp.com', { path: '/admin' }, 'deny', 2],
  ['carol@corp.com', { path: '/admin/users' }, 'deny', 2],
  ['alice@corp.com', { path: '/admin/users' }, 'allow', 1],
  ['bob@corp.com', { path: '/admin' }, 'allow', 1],
  [OWNER, { path: '/admin' }, 'deny', 2], // rules bind the owner too; the owner is only part of the default
  [OWNER, { path: '/' }, 'allow', null],
  ['eve@evil.com', { path: '/' }, 'deny', null],
];
for (const [email, facts, expected, rule] of WIKI_CASES) {
  test(`ordered rules: ${email ?? 'anonymous'} ${facts.method ?? 'GET'} ${facts.path} → ${expected} by ${rule === null ? 'the default' : `rules[${rule}]`}`, () => {
    const verdict = compiled(WIKI).decide(email === null ? null : who(email), req(facts));
    assert.equal(verdict.kind, expected, verdict.reason);
    assert.equal(verdict.rule, rule);
  });
}

test('after a sign-in the decision resumes at the rule that asked, with the same answer as from the start', () => {
  const policy = compiled(WIKI);
  const first = policy.decide(null, req({ path: '/admin' }));
  assert.equal(first.kind, 'sign-in');
  const resumed = policy.decide(who('alice@corp.com'), req({ path: '/admin' }), first.kind === 'sign-in' ? first.resumeAt : 0);
  assert.deepEqual(resumed, policy.decide(who('alice@corp.com'), req({ path: '/admin' })));
});

test('reasons name the rule (0-based, as in the file) and why', () => {
  const policy = compiled(WIKI);
  assert.equal(policy.decide(null, req({ path: '/webhook', method: 'POST' })).reason, 'rules[0] (public on POST /webhook) lets anyone in without sign-in');
  assert.equal(policy.decide(who('carol@corp.com'), req({ path: '/admin/x' })).reason, 'rules[2] (deny everyone on /admin/*) denies carol@corp.com');
  assert.equal(
    policy.decide(who('alice@corp.com'), req({ path: '/admin/x' })).reason,
    'rules[1] (allow alice@corp.com, bob@corp.com on /admin/*) allows alice@corp.com: email alice@corp.com is allowed',
  );
});

test('a public rule is anonymous: even a signed-in person passes without identity', () => {
  const verdict = compiled(WIKI).decide(who('alice@corp.com'), req({ path: '/webhook', method: 'POST' }));
  assert.equal(verdict.kind === 'allow' && verdict.anonymous, true);
  const signedIn = compiled(WIKI).decide(who('alice@corp.com'), req({ path: '/' }));
  assert.equal(signedIn.kind === 'allow' && signedIn.anonymous, false);
});

test('a deny rule for everyone needs no sign-in; one that names people does', () => {
  const everyone = compiled({ rules: [{ paths: ['/private/*'], action: 'deny' }], cloudauth: false });
  assert.equal(everyone.decide(null, req({ path: '/private/x' })).kind, 'deny');
  assert.equal(everyone.decide(null, req({ path: '/' })).kind, 'allow');
  const named = compiled({ rules: [{ action: 'deny', emails: ['eve@corp.com'] }], allowed_email_domains: ['corp.com'] });
  assert.equal(named.decide(null, req()).kind, 'sign-in');
  assert.equal(named.decide(who('eve@corp.com'), req()).kind, 'deny');
  assert.equal(named.decide(who('ann@corp.com'), req()).kind, 'allow');
});

test('anyone_signed_in admits every identity but asks for one', () => {
  const policy = compiled({ rules: [{ paths: ['/docs/*'], action: 'allow', anyone_signed_in: true }], default: 'deny' });
  assert.equal(policy.decide(null, req({ path: '/docs/a' })).kind, 'sign-in');
  assert.equal(policy.decide(who('x@anywhere.org'), req({ path: '/docs/a' })).kind, 'allow');
  assert.equal(policy.decide(who('x@anywhere.org'), req({ path: '/' })).kind, 'deny');
  assert.equal(policy.decide(who(OWNER), req({ path: '/' })).kind, 'deny', 'a deny default admits no one, the owner neither');
});

test('methods: listed ones only, GET also matches HEAD, case does not matter in the file', () => {
  const policy = compiled({ rules: [{ methods: ['get', 'Post'], action: 'public' }], default: 'deny' });
  assert.equal(policy.decide(null, req({ method: 'GET' })).kind, 'allow');
  assert.equal(policy.decide(null, req({ method: 'HEAD' })).kind, 'allow');
  assert.equal(policy.decide(null, req({ method: 'POST' })).kind, 'allow');
  assert.equal(policy.decide(null, req({ method: 'DELETE' })).kind, 'deny');
  const headOnly = compiled({ rules: [{ methods: ['HEAD'], action: 'public' }], default: 'deny' });
  assert.equal(headOnly.decide(null, req({ method: 'GET' })).kind, 'deny', 'HEAD does not imply GET');
});

// ------------------------------------------------------------------ context conditions in rules

test('ip_cidrs and not_ip_cidrs match the trusted client address', () => {
  const office = compiled({ rules: [{ action: 'allow', anyone_signed_in: true, ip_cidrs: ['10.0.0.0/8'] }], default: 'deny' });
  assert.equal(office.decide(who('x@y.com'), req({ ip: '10.1.2.3' })).kind, 'allow');
  assert.equal(office.decide(who('x@y.com'), req({ ip: '192.0.2.1' })).kind, 'deny');
  const outside = compiled({ rules: [{ action: 'deny', not_ip_cidrs: ['10.0.0.0/8', '2001:db8::/32'] }], allowed_email_domains: ['corp.com'] });
  assert.equal(outside.decide(null, req({ ip: '203.0.113.9' })).kind, 'deny', 'denied before any sign-in');
  assert.equal(outside.decide(who('a@corp.com'), req({ ip: '2001:db8::5' })).kind, 'allow');
  assert.equal(outside.decide(who('a@corp.com'), req({ ip: '::ffff:10.9.9.9' })).kind, 'allow');
});

test('a rule on addresses refuses a request whose address is unknown, whatever the rule says', () => {
  for (const rule of [{ action: 'deny', not_ip_cidrs: ['10.0.0.0/8'] }, { action: 'allow', anyone_signed_in: true, ip_cidrs: ['10.0.0.0/8'] }]) {
    const verdict = compiled({ rules: [rule], cloudauth: false }).decide(who('a@b.com'), req({ ip: null }));
    assert.equal(verdict.kind, 'deny');
    assert.match(verdict.reason, /client address, and it is unknown/);
  }
});

test('time windows apply inside them only, in their own zone', () => {
  const hours = compiled({ rules: [{ action: 'deny', time: { days: ['sat', 'sun'], hours: '00:00-24:00', zone: 'Pacific/Auckland' } }], allowed_email_domains: ['corp.com'] });
  // Friday 12:00 UTC is Saturday 01:00 in Auckland (UTC+13 in December).
  assert.equal(hours.decide(who('a@corp.com'), req({ at: Date.parse('2026-12-11T12:00:00Z') })).kind, 'deny');
  assert.equal(hours.decide(who('a@corp.com'), req({ at: Date.parse('2026-12-11T10:00:00Z') })).kind, 'allow');
});

test('not_before and expires bound a rule in time; a denial says which rule ran out', () => {
  const contractor: PolicyInput = {
    rules: [{ action: 'allow', emails: ['carol@contractor.io'], not_before: '2026-12-01T00:00:00Z', expires: '2027-01-31T18:00:00+01:00' }],
    allowed_email_domains: ['corp.com'],
  };
  const carol = who('carol@contractor.io');
  assert.equal(kind(contractor, carol, { at: Date.parse('2026-11-30T23:59:59Z') }), 'deny');
  assert.equal(kind(contractor, carol, { at: Date.parse('2026-12-01T00:00:00Z') }), 'allow');
  assert.equal(kind(contractor, carol, { at: Date.parse('2027-01-31T16:59:59Z') }), 'allow');
  const after = compiled(contractor).decide(carol, req({ at: Date.parse('2027-01-31T17:00:00Z') }));
  assert.equal(after.kind, 'deny');
  assert.equal(after.reason, "carol@contractor.io is not allowed by this socket's rules; rules[0] would let them in, but only from 2026-12-01T00:00:00Z until 2027-01-31T17:00:00Z");
  assert.equal(kind(contractor, who('a@corp.com'), { at: Date.parse('2028-01-01T00:00:00Z') }), 'allow', 'the rest of the policy is untouched');
});

test('cors_preflight: the rule applies to CORS preflights only', () => {
  const policy = compiled({ rules: [{ cors_preflight: true, action: 'public' }], allowed_email_domains: ['corp.com'] });
  assert.equal(policy.decide(null, req({ method: 'OPTIONS', corsPreflight: true })).kind, 'allow');
  assert.equal(policy.decide(null, req({ method: 'OPTIONS', corsPreflight: false })).kind, 'sign-in');
  assert.equal(policy.decide(null, req({ method: 'GET' })).kind, 'sign-in');
});

test('TCP streams have no path or method: rules without them apply, the default decides the rest', () => {
  const ssh = compiled({ rules: [{ action: 'deny', emails: ['eve@corp.com'] }, { action: 'allow', emails: ['ops@partner.io'], expires: '2027-01-01T00:00:00Z' }], allowed_email_domains: ['corp.com'] }, 'tcp');
  const tcp = req({ path: null, method: null });
  assert.equal(ssh.decide(who('eve@corp.com'), tcp).kind, 'deny');
  assert.equal(ssh.decide(who('ann@corp.com'), tcp).kind, 'allow');
  assert.equal(ssh.decide(who('ops@partner.io'), tcp).kind, 'allow');
  assert.equal(ssh.decide(who('ops@partner.io'), { ...tcp, at: Date.parse('2027-01-01T00:00:00Z') }).kind, 'deny');
});

test('what the gate needs to know is computed once at compile time', () => {
  assert.equal(compiled({ cloudauth: false }).fullyPublic, true);
  assert.equal(compiled({ cloudauth: true }).fullyPublic, false);
  assert.equal(compiled(WIKI).usesPath, true);
  assert.equal(compiled({ rules: [{ action: 'deny', emails: ['e@x.com'] }], cloudauth: true }).usesPath, false);
  assert.equal(compiled(WIKI).timeDependent, false);
  assert.equal(compiled({ rules: [{ action: 'allow', emails: ['e@x.com'], expires: '2027-01-01T00:00:00Z' }], cloudauth: true }).timeDependent, true);
});

test('decideFor: a known person is decided from where the anonymous decision stopped, and a denial names them', () => {
  const policy = compiled({ rules: [{ paths: ['/private/*'], action: 'deny' }, { action: 'allow', emails: ['x@y.com'] }], default: 'deny' });
  for (const path of ['/private/a', '/', '/other']) {
    const anonymous = policy.decide(null, req({ path }));
    for (const email of ['x@y.com', 'z@y.com']) {
      assert.deepEqual(policy.decideFor(who(email), req({ path }), anonymous), policy.decide(who(email), req({ path })), `${email} ${path}`);
    }
  }
  assert.match(policy.decideFor(who('x@y.com'), req({ path: '/private/a' }), policy.decide(null, req({ path: '/private/a' }))).reason, /denies x@y\.com$/);
});
