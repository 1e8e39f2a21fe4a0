import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConfigError } from '@postern/edge';
import { Command } from 'commander';
import { registerIssuerOptions } from '../src/commands/edge-identity.js';

/** Parses issuer flags as `postern edge` does and returns the issuers they make. */
function parse(args: string[]) {
  const command = new Command('edge').exitOverride();
  const read = registerIssuerOptions(command);
  command.parse(args, { from: 'user' });
  return { oidc: read(command.opts()) };
}

test('issuers are numbered in order, --oidc-issuer or --entra-tenant; valued flags go by position', () => {
  const input = parse([
    '--oidc-issuer', 'https://dex.example.com', '--entra-tenant', '72f988bf-86f1-41af-91ab-2d7cd011db47',
    '--oidc-client-id', 'dex-client', '--oidc-client-id', 'entra-app',
    '--oidc-scopes', 'groups offline_access',
  ]);
  assert.deepEqual(input.oidc?.map((o) => [o.issuer, o.entraTenant, o.clientId, o.scopes]), [
    ['https://dex.example.com', undefined, 'dex-client', 'groups offline_access'],
    [undefined, '72f988bf-86f1-41af-91ab-2d7cd011db47', 'entra-app', undefined],
  ]);
});

test('switches (--oidc-require-mfa, --oidc-trust-email, --oidc-rp-logout) apply to the issuer they follow', () => {
  const input = parse(['--oidc-issuer', 'https://a.example', '--oidc-rp-logout', '--oidc-issuer', 'https://b.example', '--oidc-require-mfa', '--oidc-trust-email']);
  assert.deepEqual(input.oidc?.map((o) => [o.rpLogout, o.requireMfa, o.trustEmail]), [
    [true, undefined, undefined],
    [undefined, true, true],
  ]);
});

test('a switch before any issuer, or more values than issuers, is a one-line error', () => {
  assert.throws(() => parse(['--oidc-require-mfa', '--oidc-issuer', 'https://a.example']), (e: unknown) => e instanceof ConfigError && /--oidc-require-mfa must follow the --oidc-issuer/.test(e.message));
  assert.throws(() => parse(['--oidc-issuer', 'https://a.example', '--oidc-client-id', 'a', '--oidc-client-id', 'b']), (e: unknown) => e instanceof ConfigError && /--oidc-client-id is given 2 times for 1 issuer/.test(e.message));
});
