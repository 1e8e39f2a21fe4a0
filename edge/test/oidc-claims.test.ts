import assert from 'node:assert/strict';
import { test } from 'node:test';
import { acceptsEntraTemplate } from '../src/auth/providers/entra.js';
import { needsUserinfo, readClaims, type ClaimRules } from '../src/auth/providers/oidc-claims.js';
import { ProviderError } from '../src/auth/providers/types.js';

const TENANT = '72f988bf-86f1-41af-91ab-2d7cd011db47';
const generic: ClaimRules = { kind: 'oidc', providerName: 'Corp SSO', emailClaim: 'email', groupsClaim: 'groups', trustEmail: false, requireMfa: false, tenants: [], hostedDomain: undefined };
const entra: ClaimRules = { ...generic, kind: 'entra', providerName: 'Microsoft', tenants: [TENANT] };
const google: ClaimRules = { ...generic, kind: 'google', providerName: 'Google', hostedDomain: 'corp.example' };
const signIn = { signingIn: true };
const read = (claims: Record<string, unknown>, rules: ClaimRules, userinfo: Record<string, unknown> = {}, context = signIn) => readClaims(claims, userinfo, rules, context);
const refused = (fn: () => unknown, message: RegExp) => assert.throws(fn, (err: unknown) => err instanceof ProviderError && message.test(err.message));

test('generic OIDC: only email_verified true verifies an email; trust_email stands in for IdPs that never say', () => {
  assert.equal(read({ email: 'A@Example.com', email_verified: true }, generic).email, 'a@example.com');
  for (const verified of [false, 'true', 1, undefined]) assert.equal(read({ email: 'a@example.com', email_verified: verified }, generic).email, null, String(verified));
  assert.equal(read({ email: 'a@example.com' }, { ...generic, trustEmail: true }).email, 'a@example.com');
  assert.equal(read({ email: 'a@evil@example.com', email_verified: true }, { ...generic, trustEmail: true }).email, null, 'still one @');
});

test('email and groups claims are configurable; the email and its verification come from the same source', () => {
  assert.equal(read({ upn: 'u@corp.example', email_verified: true }, { ...generic, emailClaim: 'upn' }).email, 'u@corp.example');
  assert.deepEqual(read({ roles: ['a', 'b'] }, { ...generic, groupsClaim: 'roles' }).groups, ['a', 'b']);
  // The ID token names an unverified email; UserInfo's verified flag must not vouch for it.
  assert.equal(read({ email: 'x@corp.example' }, generic, { email: 'x@corp.example', email_verified: true }).email, null);
  assert.equal(read({}, generic, { email: 'x@corp.example', email_verified: true }).email, 'x@corp.example');
  assert.deepEqual(read({ groups: ['g', 7] }, generic).groups, [], 'malformed groups are dropped whole');
});

test('Entra: the tenant pin refuses other tenants and tokens without tid', () => {
  assert.equal(read({ tid: TENANT.toUpperCase(), email: 'a@corp.example', xms_edov: true }, entra).email, 'a@corp.example');
  refused(() => read({ tid: '0d9e8f7a-6b5c-4d3e-8f1a-2b3c4d5e6f70', email: 'a@corp.example', xms_edov: true }, entra), /tenant \(0d9e8f7a-6b5c-4d3e-8f1a-2b3c4d5e6f70\) that this edge does not accept/);
  refused(() => read({ email: 'a@corp.example', xms_edov: true }, entra), /tenant that this edge does not accept/);
});

test('Entra: xms_edov verifies the email (true, 1, "true", "1"); without it the email does not count', () => {
  for (const v of [true, 1, 'true', '1']) assert.equal(read({ tid: TENANT, email: 'a@corp.example', xms_edov: v }, entra).email, 'a@corp.example', String(v));
  for (const v of [false, 0, 'false', undefined]) assert.equal(read({ tid: TENANT, email: 'a@corp.example', xms_edov: v }, entra).email, null, String(v));
  assert.equal(read({ tid: TENANT, email: 'a@corp.example' }, { ...entra, trustEmail: true }).email, null, 'trust_email does not apply to Entra');
});

test('groups overage (Entra _claim_names, hasgroups; any IdP\'s distributed groups) is a notice, not silence', () => {
  const overage = read({ tid: TENANT, _claim_names: { groups: 'src1' }, _claim_sources: { src1: { endpoint: 'https://graph.windows.net/x' } } }, entra);
  assert.deepEqual(overage.groups, []);
  assert.equal(overage.notices[0]?.code, 'groups_overage');
  assert.match(overage.notices[0]!.message, /Microsoft left the groups out of the token \(groups overage/);
  assert.equal(read({ tid: TENANT, hasgroups: true }, entra).notices[0]?.code, 'groups_overage');
  assert.match(read({ _claim_names: { groups: 's' } }, generic).notices[0]!.message, /distributed claim/);
  assert.deepEqual(read({ tid: TENANT, groups: ['g'] }, entra).notices, [], 'groups present: no notice');
});

test('Google: the hosted domain must match hd exactly', () => {
  assert.equal(read({ hd: 'Corp.Example', email: 'a@corp.example', email_verified: true }, google).email, 'a@corp.example');
  refused(() => read({ email: 'a@gmail.example', email_verified: true }, google), /only Google Workspace accounts of corp\.example/);
  refused(() => read({ hd: 'corp.example.evil', email: 'a@corp.example.evil', email_verified: true }, google), /corp\.example/);
  assert.equal(read({ email: 'a@gmail.example', email_verified: true }, { ...google, hostedDomain: undefined }).email, 'a@gmail.example');
});

test('--oidc-require-mfa: amr must contain mfa at sign-in; a re-validation does not ask again', () => {
  const mfa = { ...generic, requireMfa: true };
  assert.equal(read({ amr: ['pwd', 'mfa'], email: 'a@x.example', email_verified: true }, mfa).email, 'a@x.example');
  refused(() => read({ amr: ['pwd'] }, mfa), /requires multi-factor sign-in at Corp SSO/);
  refused(() => read({ amr: 'mfa' }, mfa), /requires multi-factor/);
  refused(() => read({}, mfa), /requires multi-factor/);
  assert.doesNotThrow(() => read({}, mfa, {}, { signingIn: false }));
});

test('UserInfo is asked only when the ID token lacks something it could hold', () => {
  assert.equal(needsUserinfo({ email: 'a', groups: [] }, generic), false);
  assert.equal(needsUserinfo({ email: 'a' }, generic), true, 'generic: groups may be in UserInfo');
  assert.equal(needsUserinfo({ email: 'a' }, google), false, 'Google never has groups there');
  assert.equal(needsUserinfo({}, entra), false, "Entra's UserInfo is Graph's: no xms_edov, no groups");
});

test('Entra multi-tenant discovery: only /common and /organizations may answer with the {tenantid} template', () => {
  const template = 'https://login.microsoftonline.com/{tenantid}/v2.0';
  assert.ok(acceptsEntraTemplate(new URL('https://login.microsoftonline.com/organizations/v2.0'), template));
  assert.ok(acceptsEntraTemplate(new URL('https://login.microsoftonline.com/common/v2.0'), template));
  assert.ok(!acceptsEntraTemplate(new URL(`https://login.microsoftonline.com/${TENANT}/v2.0`), template), 'a tenant issuer is exact');
  assert.ok(!acceptsEntraTemplate(new URL('https://login.microsoftonline.com.evil.example/common/v2.0'), template));
  assert.ok(!acceptsEntraTemplate(new URL('https://login.microsoftonline.com/common/v2.0'), 'https://evil.example/{tenantid}/v2.0'));
});
