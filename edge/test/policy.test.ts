import assert from 'node:assert/strict';
import { test } from 'node:test';
import { normalizeEmail } from '../src/policy/email.js';
import { evaluate, type AccessRules, type Identity } from '../src/policy/evaluate.js';

const rules = (over: Partial<AccessRules> = {}): AccessRules => ({
  cloudauth: true,
  allowedEmailDomains: [],
  allowedEmailAddresses: [],
  allowedGithubOrgs: [],
  allowedGithubTeams: [],
  allowedGroups: [],
  ownerEmail: 'owner@corp.com',
  ...over,
});
const who = (email: string | null, over: Partial<Identity> = {}): Identity => ({ email, groups: [], githubOrgs: [], githubTeams: [], ...over });

test('a public socket lets everyone in, a cloudauth socket needs a sign-in', () => {
  assert.equal(evaluate(rules({ cloudauth: false }), null).allow, true);
  assert.deepEqual(evaluate(rules(), null), { allow: false, reason: 'sign-in required' });
});

test('with sign-in on and no rule, only the owner gets in', () => {
  assert.equal(evaluate(rules(), who('owner@corp.com')).allow, true);
  assert.equal(evaluate(rules(), who('OWNER@corp.com')).allow, true);
  const other = evaluate(rules(), who('colleague@corp.com'));
  assert.equal(other.allow, false);
  assert.match(other.reason, /only the owner/);
});

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
    assert.equal(evaluate(rules({ allowedEmailDomains: domains }), who(email)).allow, expected);
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
    assert.equal(evaluate(rules({ allowedEmailAddresses: [rule] }), who(email)).allow, expected);
  });
}

test('GitHub orgs, teams and IdP groups match exactly', () => {
  assert.equal(evaluate(rules({ allowedGithubOrgs: ['Acme'] }), who(null, { githubOrgs: ['acme'] })).allow, true);
  assert.equal(evaluate(rules({ allowedGithubOrgs: ['acme'] }), who(null, { githubOrgs: ['acme-evil'] })).allow, false);
  assert.equal(evaluate(rules({ allowedGithubTeams: ['acme/ops'] }), who(null, { githubTeams: ['acme/ops'] })).allow, true);
  assert.equal(evaluate(rules({ allowedGithubTeams: ['acme/ops'] }), who(null, { githubTeams: ['acme/dev'] })).allow, false);
  assert.equal(evaluate(rules({ allowedGroups: ['admins'] }), who('x@y.com', { groups: ['admins'] })).allow, true);
  assert.equal(evaluate(rules({ allowedGroups: ['admins'] }), who('x@y.com', { groups: ['Admins'] })).allow, false);
});

test('a denial says why, naming the user', () => {
  const d = evaluate(rules({ allowedEmailDomains: ['corp.com'] }), who('eve@evil.com'));
  assert.deepEqual(d, { allow: false, reason: "eve@evil.com is not allowed by this socket's rules" });
  const none = evaluate(rules({ allowedEmailDomains: ['corp.com'] }), who(null));
  assert.match(none.reason, /no verified email/);
});

test('email normalisation refuses what rules must never see', () => {
  assert.equal(normalizeEmail('Alice@Example.COM'), 'alice@example.com');
  assert.equal(normalizeEmail(' alice@example.com'), null);
  assert.equal(normalizeEmail('\u212Aate@corp.com'), null, 'KELVIN SIGN does not lower-case its way to kate@corp.com');
  for (const bad of ['a@b', 'a@@b.com', 'a@b.com@c.com', 'a..b@c.com', '.a@b.com', 'a@b..com', 'a@-b.com', 'á@b.com', 'a@b.com.', '']) {
    assert.equal(normalizeEmail(bad), null, bad);
  }
});
