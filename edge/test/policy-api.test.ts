import assert from 'node:assert/strict';
import { test } from 'node:test';
import { PolicyError, resolvePolicy, type PolicyInput } from '@postern/shared/policy';
import { policyRefusal } from '../src/api/sockets.js';

const refusal = (input: PolicyInput, protocol: 'http' | 'tcp' = 'http'): string => {
  try {
    resolvePolicy(input, undefined, protocol);
  } catch (err) {
    assert.ok(err instanceof PolicyError);
    const refused = policyRefusal(err);
    assert.equal(refused.code, 'BAD_REQUEST');
    return refused.message;
  }
  assert.fail('accepted');
};

test("the API names the key of a rule at fault; the flags' shorthand keeps today's messages, which name the value", () => {
  assert.equal(refusal({ allowed_email_addresses: ['nobody'] }), '"nobody" is not an email address');
  assert.match(refusal({ allowed_email_domains: ['x.com'], cloudauth: false }), /^access rules need sign-in/);
  assert.match(refusal({ cloudauth: false }, 'tcp'), /^TCP sockets always check who connects/);
  assert.equal(refusal({ rules: [{ action: 'deny', paths: ['admin'] }] }), 'rules[0].paths[0]: must start with "/"');
  assert.equal(refusal({ rules: [{ action: 'x' }, { action: 'y' }] }), 'rules[0].action: must be one of public, allow, deny (and 1 more)');
});
